import Synchronization

/// Entries registered by ``Multiprocessing/bootstrap(functions:workers:)``, by name.
enum EntryRegistry {
    private static let entries = Mutex<[String: EntryDefinition]>([:])

    static func register(_ definition: EntryDefinition) throws {
        try entries.withLock { table in
            if table[definition.name] != nil {
                throw ProcessError(ProcessError.Code.duplicateEntry, "two entries are registered as \"\(definition.name)\"")
            }
            table[definition.name] = definition
        }
    }

    static func lookup(_ name: String) -> EntryDefinition? { entries.withLock { $0[name] } }
    static var names: [String] { entries.withLock { $0.keys.sorted() } }
}

extension ChildEnvironment {
    /// This process's name: the one its parent gave it, or "MainProcess".
    static var currentName: String {
        ProcessEnvironment.value(entry) == nil ? Multiprocessing.mainProcessName
            : ProcessEnvironment.value(name) ?? ProcessEnvironment.value(entry) ?? Multiprocessing.mainProcessName
    }
}
