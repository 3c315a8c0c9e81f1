import MessagePack

/// How the proxies of Managers/Sync put their arguments on the wire (each one msgpack value).
enum ManagerArguments {
    /// A timeout as seconds (nil: none; a negative one is zero, Python's "do not wait").
    static func timeout(_ timeout: Duration?) -> [UInt8] {
        guard let timeout else { return MessagePackValue.nil.bytes }
        let (seconds, attoseconds) = max(timeout, .zero).components
        return MessagePackValue.double(Double(seconds) + Double(attoseconds) / 1e18).bytes
    }

    static func int(_ value: Int) -> [UInt8] { MessagePackValue.int(Int64(value)).bytes }
    static func uint(_ value: UInt64) -> [UInt8] { MessagePackValue.uint(value).bytes }
    static func bool(_ value: Bool) -> [UInt8] { MessagePackValue.bool(value).bytes }
}

extension ManagedReference {
    /// Calls `method` of the object and decodes its answer as `R` (a proxy that is not a
    /// ``ManagerProxy`` itself, as the lock methods three proxies share).
    func invoke<R: Decodable>(_ method: String, _ arguments: [[UInt8]] = [], as type: R.Type = R.self) async throws(ManagerError) -> R {
        let bytes = try await client.call(object, method, arguments)
        return try client.decode(bytes, as: type, "the answer of \(self).\(method)")
    }

    /// Calls `method` of the object and ignores its answer.
    func invoke(_ method: String, _ arguments: [[UInt8]] = []) async throws(ManagerError) {
        _ = try await client.call(object, method, arguments)
    }
}
