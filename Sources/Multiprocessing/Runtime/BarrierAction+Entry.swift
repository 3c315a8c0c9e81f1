/// A barrier action rides in bootstrap's `functions:` list next to the entries, so it is a
/// ``ProcessEntry`` there; the conformance lives here, above both `Process/` and
/// `Synchronize/`, which may not name each other's types.
extension BarrierAction: ProcessEntry {
    /// Not an entry a child can be started with: a barrier action only rides in the
    /// `functions:` list of `bootstrap`, which registers it with the barrier actions.
    public var definition: EntryDefinition {
        EntryDefinition(name: name) { [name] _ in
            RuntimeLog.error("\"\(name)\" is a barrier action, not an entry a child can run", metadata: ["entry": "\(name)", "pid": "\(ProcessControl.id)"])
            return ChildExitCode.unknownEntry
        }
    }
}
