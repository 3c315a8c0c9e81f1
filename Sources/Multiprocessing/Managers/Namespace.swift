import MessagePack

/// Attributes by name that live in a manager (Python's `Manager().Namespace()`): each value any
/// `Codable`, read and written from every process that holds a proxy. Attributes read by
/// dynamic member lookup: `ns.total` is the attribute "total".
///
/// ```swift
/// let settings = try await manager.namespace()
/// try await settings.threshold.set(0.5)
/// let threshold = try await settings.threshold.get(Double.self)    // 0.5, from any process
/// ```
@dynamicMemberLookup
public struct Namespace: ManagerProxy {
    public static var typeID: String { ManagerTypes.namespace }
    public let reference: ManagedReference

    public init(reference: ManagedReference) { self.reference = reference }

    /// The attribute `name`: `ns.count`.
    public subscript(dynamicMember name: String) -> Attribute { Attribute(namespace: self, name: name) }

    /// The attribute `name` as a `T`; nil when it is not set, ``ManagerError/Code/wrongType``
    /// when it holds another type.
    public func get<T: Decodable>(_ name: String, as type: T.Type = T.self) async throws(ManagerError) -> T? {
        try await invoke("get", [encode(name, "the name")], as: [T].self).first
    }

    /// Sets the attribute `name`.
    public func set<T: Encodable>(_ name: String, _ value: T) async throws(ManagerError) {
        try await invoke("set", [encode(name, "the name"), encode(value, "the value of \(name)")])
    }

    /// Deletes the attribute `name` (Python's `del ns.x`); whether it was set.
    @discardableResult
    public func remove(_ name: String) async throws(ManagerError) -> Bool {
        try await !invoke("remove", [encode(name, "the name")], as: [MessagePackValue].self).isEmpty
    }

    /// The names of the set attributes.
    public func names() async throws(ManagerError) -> [String] { try await invoke("keys", as: [String].self) }

    /// One attribute of a namespace.
    public struct Attribute: Sendable {
        let namespace: Namespace
        /// The attribute's name.
        public let name: String

        /// Its value as a `T` (nil when not set).
        public func get<T: Decodable>(_ type: T.Type = T.self) async throws(ManagerError) -> T? { try await namespace.get(name, as: type) }
        /// Sets it.
        public func set<T: Encodable>(_ value: T) async throws(ManagerError) { try await namespace.set(name, value) }
        /// Deletes it; whether it was set.
        @discardableResult
        public func remove() async throws(ManagerError) -> Bool { try await namespace.remove(name) }
    }
}
