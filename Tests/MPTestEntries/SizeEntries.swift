import Foundation
import Multiprocessing

/// Workers and functions for the oversized-message tests (MessageSizeTests).
public enum SizeEntries {
    /// Above the default maximum frame (64 MiB).
    public static let oversized = 70_000_000

    /// Returns `size` bytes: above the maximum frame, a result the child cannot send.
    public static let bigResult = ProcessFunction("size.bigResult") { (size: Int) -> Data in Data(count: size) }

    /// Counts the bytes it is given (the tests give it too many to send).
    public static let count = ProcessFunction("size.count") { (bytes: Data) -> Int in bytes.count }

    public static let functions: [any ProcessEntry] = [bigResult, count]
    public static let workers: [any Worker.Type] = [Oversender.self, Goodbyer.self]
}

/// Tries an oversized frame from inside a worker, then a normal one on the same channel.
/// Requests `[mode, peer]`: mode "request" asks `peer` (an ``Echo``) with 70 MB, "send" sends
/// it 70 MB, "reply" answers this request with 70 MB. The answer is
/// `[error code, error message, what the following normal request to peer answered]`.
public struct Oversender: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests([MessagePackValue].self) {
            guard case .string(let mode) = request.value[0], case .uint(let peer) = request.value[1] else { continue }
            let big = Data(count: SizeEntries.oversized)
            var failure = ProcessError(.invalidArgument, "nothing failed")
            do {
                switch mode {
                case "request": _ = try await context.request(big, to: peer, as: MessagePackValue.self)
                case "send": try await context.send(big, to: peer)
                default: try request.reply(big)
                }
            } catch let error as ProcessError {
                failure = error
            }
            let after = try await context.request("still usable", to: peer, as: String.self)
            try request.reply([failure.code.name, failure.message, after])
        }
    }
}

/// Waits for its mailbox to end (the parent closed the channel), waits a moment so the parent's
/// side is surely closed, then returns: the runtime's goodbye goes to a pipe with no reader.
public struct Goodbyer: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        for try await _ in context.events {}
        try await Task.sleep(for: .milliseconds(200))
    }
}
