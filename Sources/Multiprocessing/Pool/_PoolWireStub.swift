// TEMPORARY: replaced by the worker slice's PoolWire.swift at merge.
import NIOCore
import MessagePack

enum PoolWire {
    static let kinds: ClosedRange<UInt8> = 48...63
    static let task = Envelope.Kind(rawValue: 48)
    static let results = Envelope.Kind(rawValue: 49)
    static let cancel = Envelope.Kind(rawValue: 50)
    static let initialize = Envelope.Kind(rawValue: 51)
    static let capability = "pool"
    static let workerEntry = "mp.pool.worker"
    static func appendTask(to buffer: inout ByteBuffer, id: UInt64, worker: UInt64, function: String, encodedArguments: UnsafeRawBufferPointer) { fatalError() }
    static func appendInitialize(to buffer: inout ByteBuffer, id: UInt64, worker: UInt64, function: String, encodedArguments: UnsafeRawBufferPointer) { fatalError() }
    static func appendCancel(to buffer: inout ByteBuffer, id: UInt64, worker: UInt64) { fatalError() }
    struct Results { let offset: Int; let outputs: ByteBuffer; let count: Int
                     let failures: [(offset: Int, error: RemoteError)]; let state: State }
    enum State: UInt8 { case partial = 0, done = 1, cancelled = 2 }
    static func parseResults(_ payload: ByteBuffer) throws -> Results { fatalError() }
}
public struct ProcessArguments<each Value: Codable & Sendable>: Codable, Sendable {
    public let values: (repeat each Value)
    public init(_ values: repeat each Value) { self.values = (repeat each values) }
    public init(from decoder: any Decoder) throws { fatalError() }
    public func encode(to encoder: any Encoder) throws { fatalError() }
}
public struct PoolInitializer: Sendable { let name: String; let encodedArguments: [UInt8] }
final class PoolFunctions: Sendable { func contains(_ name: String) -> Bool { true } }
extension Runtime { var poolFunctions: PoolFunctions { PoolFunctions() } }
