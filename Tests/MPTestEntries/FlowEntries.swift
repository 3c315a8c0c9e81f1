import Foundation
import Multiprocessing

/// Answers each request `[target, value]` with the answer of the worker `target` to `value`:
/// a request handler that itself makes a request, one request at a time.
public struct Relay: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests([UInt64].self) {
            let answer = try await context.request(Int(request.value[1]), to: request.value[0], as: Int.self)
            try request.reply(answer)
        }
    }
}

/// Requests between two workers in both directions, each handler calling the other back.
/// `["flood", peer, count, size]` sends `count` requests `["call", me, <size bytes>]` to `peer`
/// at once and answers how many were answered; `["call", from, bytes]` asks `from` for a
/// `["ping"]` and answers 1; `["ping"]` answers 1. Handlers run concurrently.
public struct Volley: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for try await request in context.requests([MessagePackValue].self) {
                group.addTask { try await Self.handle(request, context) }
            }
            try await group.waitForAll()
        }
    }

    static func handle(_ request: WorkerContext.Request<[MessagePackValue]>, _ context: WorkerContext) async throws {
        let value = request.value
        switch value.first {
        case .string("flood"):
            guard case .uint(let peer) = value[1], case .uint(let count) = value[2], case .uint(let size) = value[3] else { return }
            let payload = MessagePackValue.binary(Data(repeating: 1, count: Int(size)))
            let answered = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<count {
                    group.addTask {
                        try await context.request([.string("call"), .uint(context.id), payload] as [MessagePackValue], to: peer, as: Int.self)
                    }
                }
                return try await group.reduce(0, +)
            }
            try request.reply(answered)
        case .string("call"):
            guard case .uint(let from) = value[1] else { return }
            let pong = try await context.request([.string("ping")] as [MessagePackValue], to: from, as: Int.self)
            try request.reply(pong)
        default:
            try request.reply(1)
        }
    }
}

/// Answers each request (a size) with that many bytes as `Data`, byte `i` being
/// `UInt8(truncatingIfNeeded: i &* 7 &+ i >> 16)`: a large reply whose every byte is checked.
public struct Patterned: Worker {
    public init() {}
    public static func bytes(_ size: Int) -> Data {
        Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 16) })
    }
    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(Int.self) {
            try request.reply(Self.bytes(request.value))
        }
    }
}

/// Functions for the flow-control and large-message tests.
public enum FlowEntries {
    /// Returns `size` bytes: one large frame from a child to the parent.
    public static let blob = ProcessFunction("blob") { (size: Int) -> Data in Data(repeating: 7, count: size) }

    public static let functions: [any ProcessEntry] = [blob]
}
