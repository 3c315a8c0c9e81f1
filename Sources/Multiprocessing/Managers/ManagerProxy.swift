import MessagePack

/// A typed view of an object in a manager (Python's `BaseProxy`): a ``SharedDictionary``, a
/// ``SharedList``, a ``Namespace``, a lock, a ``ManagedProxy`` of a custom type. Every proxy is
/// `Codable`: sent through a queue or as an argument, it works in the receiving process, and
/// the object lives while any process holds a proxy of it.
///
/// ```swift
/// let cache = try await manager.dictionary(String.self, Int.self)
/// let worker = try await ChildProcess.start(countWords, cache)   // the worker increments into it
/// ```
public protocol ManagerProxy: Codable, Sendable {
    /// The type id of the objects this proxy calls (`dict`, `list`, ...).
    static var typeID: String { get }
    /// The reference the proxy calls through.
    var reference: ManagedReference { get }
    /// A proxy of the object `reference` names (its type id is ``typeID``).
    init(reference: ManagedReference)
}

extension ManagerProxy {
    /// Writes the proxy's reference (see ``ManagedReference``).
    public func encode(to encoder: any Encoder) throws { try reference.encode(to: encoder) }

    /// Calls `method` with `arguments` and decodes the answer as `R`.
    func invoke<R: Decodable>(_ method: String, _ arguments: [[UInt8]] = [], as type: R.Type = R.self) async throws(ManagerError) -> R {
        let client = reference.client
        let bytes = try await client.call(reference.object, method, arguments)
        return try client.decode(bytes, as: type, "the answer of \(reference).\(method)")
    }

    /// Calls `method` and ignores its answer.
    func invoke(_ method: String, _ arguments: [[UInt8]] = []) async throws(ManagerError) {
        _ = try await reference.client.call(reference.object, method, arguments)
    }

    /// `value` encoded as an argument of this proxy's object.
    func encode<T: Encodable>(_ value: T, _ what: @autoclosure () -> String) throws(ManagerError) -> [UInt8] {
        try reference.client.encode(value, "\(what()) for \(reference)")
    }
}

/// A value that stands for "no argument" where a ``ManagedMethod`` or a ``ManagedType``'s
/// initializer takes none.
public struct NoArgument: Codable, Hashable, Sendable {
    /// The only value.
    public init() {}
}
