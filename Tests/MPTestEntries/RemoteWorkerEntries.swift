import Foundation
import Multiprocessing

/// Workers the remote worker tests run through a `RemoteWorkerLauncher`.
public enum RemoteWorkerEntries {
    public static let workers: [any Worker.Type] = [QueueTaker.self, SharedProbe.self]
    public static let functions: [any ProcessEntry] = [pidAfter]

    /// Sleeps the given milliseconds, then answers its own pid (which worker of a pool ran it).
    public static let pidAfter = ProcessFunction("pidAfter") { (milliseconds: Int) -> Int32 in
        try await Task.sleep(for: .milliseconds(milliseconds))
        return getpid()
    }
}

/// Each request is a queue: takes one item from it (waiting up to 10 s) and answers it.
public struct QueueTaker: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(Queue<QueueEntries.Tagged>.self) {
            try request.reply(try await request.value.get(timeout: .seconds(10)))
        }
    }
}

/// Each request makes a shared-memory lock: answers "ok", or the error's description.
public struct SharedProbe: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(Int.self) {
            do {
                _ = try Lock()
                try request.reply("ok")
            } catch {
                try request.reply("\(error)")
            }
        }
    }
}
