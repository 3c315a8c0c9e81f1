extension Manager {
    /// The default runtime's manager, served by its supervisor (started now if it was not): the
    /// same manager in the parent and in every child. Throws
    /// ``ProcessError/Code/notBootstrapped`` before bootstrap.
    ///
    /// ```swift
    /// let manager = try Manager()
    /// let cache = try await manager.dictionary(String.self, [UInt8].self, name: "cache")
    /// ```
    public convenience init() throws(ProcessError) {
        try self.init(runtime: Runtime.current)
    }

    /// The manager of `runtime`'s supervisor.
    public convenience init(runtime: Runtime) {
        self.init(client: runtime.managerClients.local, clients: runtime.managerClients)
    }

    /// Starts a manager in a process of its own that hosts only the custom types passed to
    /// `bootstrap(managed:)` (Python's `BaseManager.start()`): isolation for objects whose
    /// methods may crash or take long. Its proxies work in every child of this program's
    /// supervisor; ``shutdown(timeout:)`` ends it. Start it from the program's root process.
    ///
    /// ```swift
    /// try await Multiprocessing.bootstrap(functions: [...], managed: [Tally.self])
    /// let isolated = try await Manager.start()
    /// let tally = try await isolated.object(Tally.self, 0)
    /// ```
    public static func start(name: String = "manager", runtime: Runtime? = nil) async throws -> Manager {
        let runtime = try runtime ?? Runtime.current
        guard runtime.session == nil else {
            throw ManagerError(.invalidArgument, "start a manager process from the program's root process (its proxies are reached through the root's supervisor)")
        }
        let process = try await runtime.supervisor().launch(entry: ManagerProcess.entry,
                                                            options: ProcessNames.assign(ProcessOptions(name: name), prefix: "manager"),
                                                            trampoline: false)
        let client = try runtime.managerClients.client(for: RoutedManagerTransport.endpoint(of: process.id))
        return Manager(client: client, clients: runtime.managerClients, process: process)
    }
}

extension ManagerProxy {
    /// Reads a proxy written by `encode(to:)` in any process. Its manager is found among the
    /// clients of the runtime the decoder's `userInfo` names under ``Runtime/userInfoKey``, or
    /// of the default runtime; a proxy of another type's object is a `DecodingError`.
    public init(from decoder: any Decoder) throws {
        self.init(reference: try ManagedReference(from: decoder, clients: Runtime.forDecoding(decoder).managerClients, expected: Self.typeID))
    }
}
