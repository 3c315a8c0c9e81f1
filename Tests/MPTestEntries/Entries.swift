import Multiprocessing

/// The entries the tests start in `MPTestWorker` children.
public enum TestEntries {
    public static let square = ProcessFunction("square") { (x: Int) in x * x }
    public static let nothing = ProcessFunction("nothing") { (_: Int) in 0 }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String { "the child failed on purpose" }
    }
    public static let fail = ProcessFunction("fail") { (_: Int) -> Int in throw Failure() }

    /// Sleeps for the given milliseconds, then answers them.
    public static let sleep = ProcessFunction("sleep") { (milliseconds: Int) -> Int in
        try await Task.sleep(for: .milliseconds(milliseconds))
        return milliseconds
    }

    /// Exits with the given code without answering.
    public static let exit = ProcessFunction("exit") { (code: Int32) -> Int in
        Multiprocessing.exitImmediately(code)
    }

    public static let echoBytes = ProcessFunction("echoBytes") { (bytes: [UInt8]) in bytes }

    public static let functions: [any ProcessEntry] = [square, nothing, fail, sleep, exit, echoBytes]
    public static let workers: [any Worker.Type] = [Tally.self, Echo.self]
}

/// Adds every request to a running total and answers the total.
public struct Tally: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        var total = 0
        for try await request in context.requests(Int.self) {
            total += request.value
            try request.reply(total)
        }
    }
}

/// Answers every request with its own payload.
public struct Echo: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(MessagePackValue.self) {
            try request.reply(request.value)
        }
    }
}
