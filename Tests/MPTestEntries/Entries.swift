import Foundation
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

    /// Asks the worker `target` (a Tally) to add `value`, through the supervisor.
    public struct Ask: Codable, Sendable {
        public var target: UInt64
        public var value: Int
        public init(target: UInt64, value: Int) { self.target = target; self.value = value }
    }
    public static let ask = ProcessFunction("ask") { (ask: Ask, context: WorkerContext) in
        try await context.request(ask.value, to: ask.target, as: Int.self)
    }

    /// Writes raw bytes on the channel (fd 4) as if they were frames, then waits to be killed.
    public static let writeRaw = ProcessFunction("writeRaw") { (bytes: [UInt8]) -> Int in
        FileHandle(fileDescriptor: 4, closeOnDealloc: false).write(Data(bytes))
        try await Task.sleep(for: .seconds(30))
        return 0
    }

    /// Writes the first half of a frame, then exits.
    public static let halfFrame = ProcessFunction("halfFrame") { (_: Int) -> Int in
        FileHandle(fileDescriptor: 4, closeOnDealloc: false).write(Data([0, 0, 0, 10, 0x95, 0x03]))
        Multiprocessing.exitImmediately(0)
    }

    public static let functions: [any ProcessEntry] = [square, nothing, fail, sleep, exit, echoBytes, ask, writeRaw, halfFrame]
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
