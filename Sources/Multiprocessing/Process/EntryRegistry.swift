import Synchronization

/// The entries a runtime knows by name: what its supervisor may start (a name it does not
/// hold is refused before anything is spawned) and what a child runs. Bootstrap fills the
/// default runtime's; a test fills the one of a runtime it makes.
///
/// ```swift
/// let entries = EntryRegistry()
/// try entries.register(square.definition)
/// let runtime = Runtime(entries: entries)
/// ```
final class EntryRegistry: Sendable {
    private let entries = Mutex<[String: EntryDefinition]>([:])

    init() {}

    /// Adds `definition`. Throws ``ProcessError/Code/duplicateEntry`` for a name taken already.
    func register(_ definition: EntryDefinition) throws(ProcessError) {
        try entries.withLock { (table) throws(ProcessError) in
            if table[definition.name] != nil {
                throw ProcessError(ProcessError.Code.duplicateEntry, "two entries are registered as \"\(definition.name)\"")
            }
            table[definition.name] = definition
        }
    }

    /// The entry named `name`, if registered.
    func lookup(_ name: String) -> EntryDefinition? { entries.withLock { $0[name] } }
    /// Every registered name, sorted.
    var names: [String] { entries.withLock { $0.keys.sorted() } }
}

extension ChildEnvironment {
    /// This process's name: the one its parent gave it, or "MainProcess".
    static var currentName: String {
        ProcessEnvironment.value(entry) == nil ? Multiprocessing.mainProcessName
            : ProcessEnvironment.value(name) ?? ProcessEnvironment.value(entry) ?? Multiprocessing.mainProcessName
    }
}
