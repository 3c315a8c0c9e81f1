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
}

extension ManagerProxy {
    /// Reads a proxy written by `encode(to:)` in any process. Its manager is found among the
    /// clients of the runtime the decoder's `userInfo` names under ``Runtime/userInfoKey``, or
    /// of the default runtime; a proxy of another type's object is a `DecodingError`.
    public init(from decoder: any Decoder) throws {
        self.init(reference: try ManagedReference(from: decoder, clients: Runtime.forDecoding(decoder).managerClients, expected: Self.typeID))
    }
}
