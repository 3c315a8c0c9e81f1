import MessagePack

/// A manager: objects that live in one process (the supervisor's, or a manager at an address)
/// and that every process calls through proxies: ``SharedDictionary``, ``SharedList``,
/// ``Namespace``, the synchronization primitives, values and queues, and registered custom
/// types (Python's `multiprocessing.Manager()` and `BaseManager`). A read-modify-write is one
/// message, so it is atomic: `increment` never loses an update the way Python's
/// `d[k] += 1` through a proxy does.
///
/// The default runtime's manager is served by its supervisor: `Manager()` starts nothing more,
/// and in a child it is the same manager as in the parent.
///
/// ```swift
/// try await Multiprocessing.bootstrap(functions: [countWords])
/// let manager = try Manager()
/// let hits = try await manager.dictionary(String.self, Int.self, name: "hits")
/// try await hits.increment("home", by: 1)                 // atomic, one round trip
/// print(try await hits["home"] ?? 0)
/// ```
public final class Manager: Sendable {
    let client: ManagerClient
    /// The runtime's clients (where a decoded proxy finds its manager).
    let clients: ManagerClients

    init(client: ManagerClient, clients: ManagerClients) {
        self.client = client
        self.clients = clients
    }

    /// A new dictionary, or the one named `name` if any process made it already (then its
    /// types must be the same).
    public func dictionary<Key, Value>(_ key: Key.Type = Key.self, _ value: Value.Type = Value.self,
                                       name: String? = nil) async throws(ManagerError) -> SharedDictionary<Key, Value> {
        SharedDictionary(reference: try await client.create(ManagerTypes.dictionary, name: name, arguments: []))
    }

    /// A new list holding `elements`, or the one named `name` if any process made it already
    /// (then `elements` are not added).
    public func list<Element>(_ element: Element.Type = Element.self, _ elements: [Element] = [],
                              name: String? = nil) async throws(ManagerError) -> SharedList<Element> {
        let initial = try client.encode(elements, "the list's first elements")
        return SharedList(reference: try await client.create(ManagerTypes.list, name: name, arguments: [initial]))
    }

    /// A new namespace (attributes by name), or the one named `name`.
    public func namespace(name: String? = nil) async throws(ManagerError) -> Namespace {
        Namespace(reference: try await client.create(ManagerTypes.namespace, name: name, arguments: []))
    }

    /// A new object of a registered custom type made from `argument`, or the one named `name`.
    public func object<Object: ManagedType>(_ type: Object.Type, _ argument: Object.Argument,
                                            name: String? = nil) async throws(ManagerError) -> ManagedProxy<Object> {
        let encoded = try client.encode(argument, "the argument of a new \(Object.typeID)")
        return ManagedProxy(reference: try await client.create(Object.typeID, name: name, arguments: [encoded]))
    }

    /// A new object of a registered custom type whose initializer takes no argument.
    public func object<Object: ManagedType>(_ type: Object.Type, name: String? = nil) async throws(ManagerError) -> ManagedProxy<Object>
    where Object.Argument == NoArgument {
        try await object(type, NoArgument(), name: name)
    }

    /// The proxy of the object named `name` (made by any process), as a `Proxy`: a
    /// ``ManagerError/Code/unknownName`` if there is none, ``ManagerError/Code/unknownType`` if it
    /// is of another type.
    public func lookup<Proxy: ManagerProxy>(_ name: String, as proxy: Proxy.Type) async throws(ManagerError) -> Proxy {
        let reference = try await client.lookup(name)
        guard reference.typeID == Proxy.typeID else {
            throw ManagerError(.unknownType, "the object named \"\(name)\" is a \(reference.typeID), not a \(Proxy.typeID)")
        }
        return Proxy(reference: reference)
    }

    /// Makes `Object` a type this manager can host (Python's `BaseManager.register`). Call it
    /// in the process that runs the manager (the one that called bootstrap), before a process
    /// asks for one; elsewhere it throws ``ManagerError/Code/invalidArgument``.
    public func register<Object: ManagedType>(_ type: Object.Type) throws(ManagerError) {
        let registered = client.transport.onServer { objects in
            objects.register(typeID: Object.typeID) { call throws(ManagerError) in
                try CustomObject<Object>(try call.argument(0, as: Object.Argument.self), call: call)
            }
        }
        guard registered else { throw notServing("a type") }
    }

    /// Makes `function` one that ``SharedDictionary/update(_:with:)`` can run in this manager.
    /// Call it in the process that runs the manager; elsewhere it throws
    /// ``ManagerError/Code/invalidArgument``.
    public func register<Value>(_ function: ManagerFunction<Value>) throws(ManagerError) {
        let registered = client.transport.onServer { objects in
            objects.register(function: function.name) { old in
                let decoded = try old.map { try ManagerCall.decode($0, as: Value.self, what: "the value \(function.name) was given") }
                return try MessagePackValue(encoding: try function.body(decoded))
            }
        }
        guard registered else { throw notServing("a function") }
    }

    private func notServing(_ what: String) -> ManagerError {
        ManagerError(.invalidArgument, "register \(what) in the process that runs the manager (the one that called bootstrap, or served it): this process reaches the manager through \(client.transport.endpoint ?? "its supervisor")")
    }
}

/// A function that runs inside the manager on a dictionary's value (the old value, nil when
/// the key is absent, to the new one): ``SharedDictionary/update(_:with:)`` runs it atomically,
/// in one round trip. Closures do not travel between processes, so it is registered by name
/// with ``Manager/register(_:)-(ManagerFunction<Value>)`` in the process that runs the manager.
///
/// ```swift
/// let double = ManagerFunction<Int>("double") { ($0 ?? 1) * 2 }
/// try manager.register(double)                                  // in the parent
/// let doubled = try await scores.update("alice", with: double)   // from any process
/// ```
public struct ManagerFunction<Value: Codable & Sendable>: Sendable {
    /// The name it is registered and called by.
    public let name: String
    let body: @Sendable (Value?) throws -> Value

    /// A function named `name` doing `body`.
    public init(_ name: String, _ body: @escaping @Sendable (Value?) throws -> Value) {
        self.name = name
        self.body = body
    }
}
