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

    // MARK: orphan checks (ProcessLeakTests)

    /// What ``superviseAndWait`` reports: its own pid and those of the children it started.
    public struct SupervisedChildren: Codable, Sendable {
        public var supervisor: Int32
        /// A child running ``sleep`` (60 s).
        public var function: Int32
        /// A ``Tally`` worker.
        public var worker: Int32
        /// `/bin/sleep 60`, started with `ChildProcess.start(executable:)`, once it has
        /// replaced the trampoline.
        public var foreign: Int32
        /// Whether `Multiprocessing.defaultExecutable` was nil in the supervisor process, so
        /// that the foreign executable went through the trampoline.
        public var trampolined: Bool
    }

    /// Becomes a supervisor: starts a sleeping function child, a Tally worker and the foreign
    /// `/bin/sleep 60` itself, writes their pids as JSON (``SupervisedChildren``) to the path
    /// it is given (atomically: the file appears whole), then sleeps until it is killed.
    public static let superviseAndWait = ProcessFunction("superviseAndWait") { (path: String) -> Int in
        let function = try await ChildProcess.start(TestEntries.sleep, 60_000, options: .init(name: "orphan-function"))
        let worker = try await ChildProcess.start(Tally.self, options: .init(name: "orphan-worker"))
        let foreign = try await startForeignSleep(name: "orphan-foreign")
        let report = SupervisedChildren(supervisor: ProcessInfo.processInfo.processIdentifier, function: function.pid,
                                        worker: worker.pid, foreign: foreign,
                                        trampolined: Multiprocessing.defaultExecutable == nil)
        try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: path), options: .atomic)
        try await Task.sleep(for: .seconds(600))
        return 0
    }

    /// Becomes a supervisor that keeps starting children (sleeping functions, Tally workers,
    /// foreign `/bin/sleep 60`, in turn, up to the given count), rewriting after each start the
    /// path it is given with every child pid it knows (JSON `[Int32]`), then sleeps until it
    /// is killed. Killed at a random moment, it dies with children half-started.
    public struct SpawnUntilKilled: Codable, Sendable {
        public var path: String
        public var count: Int
        public init(path: String, count: Int) { self.path = path; self.count = count }
    }
    public static let spawnUntilKilled = ProcessFunction("spawnUntilKilled") { (order: SpawnUntilKilled) -> Int in
        var pids: [Int32] = []
        var pending: [Task<ChildProcess, any Error>] = []
        for index in 0..<order.count {
            switch index % 3 {
            case 0: pids.append(try await ChildProcess.start(TestEntries.sleep, 60_000).pid)
            case 1: pids.append(try await ChildProcess.start(Tally.self).pid)
            default:
                // Never answers the handshake: only its pid matters.
                var options = ProcessOptions(name: "foreign-\(index)")
                options.handshakeTimeout = .seconds(600)
                pending.append(Task { [options] in
                    try await ChildProcess.start(executable: "/bin/sleep", arguments: ["60"], options: options)
                })
            }
            let known = Set(pids).union(ChildProcess.activeChildren().map(\.pid))
            try JSONEncoder().encode(known.sorted()).write(to: URL(fileURLWithPath: order.path), options: .atomic)
        }
        try await Task.sleep(for: .seconds(600))
        _ = pending
        return 0
    }

    /// Starts `/bin/sleep 60` through `ChildProcess.start(executable:)` (it never completes the
    /// handshake, so the start is left waiting) and returns its pid once the trampoline has
    /// `exec`ed it.
    static func startForeignSleep(name: String) async throws -> Int32 {
        var options = ProcessOptions(name: name)
        options.handshakeTimeout = .seconds(600)
        let starting = Task { [options] in
            try await ChildProcess.start(executable: "/bin/sleep", arguments: ["60"], options: options)
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(30))
        while clock.now < deadline {
            if let child = ChildProcess.activeChildren().first(where: { $0.name == name }),
               let image = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child.pid)/exe"),
               image.hasSuffix("/sleep") {
                return child.pid
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        starting.cancel()
        throw ForeignStartFailed(name: name)
    }

    public struct ForeignStartFailed: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "\(name): /bin/sleep did not replace the trampoline within 30 s" }
    }

    /// Ignores SIGTERM, then sleeps: only SIGKILL ends it.
    public static let stubborn = ProcessFunction("stubborn") { (milliseconds: Int) -> Int in
        signal(SIGTERM, SIG_IGN)
        try await Task.sleep(for: .milliseconds(milliseconds))
        return milliseconds
    }

    /// What `connectionEcho` does: echo up to `limit` frames (negative: until the parent
    /// closes its end), with the blocking or the async forms.
    public struct ConnectionEchoJob: Codable, Sendable {
        public var limit: Int
        public var useAsync: Bool
        public init(limit: Int = -1, useAsync: Bool = false) { self.limit = limit; self.useAsync = useAsync }
    }

    /// Echoes every frame (as raw bytes, so any value) that arrives over the connection
    /// passed as "echo"; returns how many it echoed.
    public static let connectionEcho = ProcessFunction("connectionEcho") { (job: ConnectionEchoJob) -> Int in
        let connection = try Connection.inherited("echo")
        defer { connection.close() }
        var count = 0
        while job.limit < 0 || count < job.limit {
            let echoed = job.useAsync ? try await echoOnceAsync(connection) : try echoOnce(connection)
            guard echoed else { break }
            count += 1
        }
        return count
    }

    /// One blocking echo; false once the parent closed its end.
    static func echoOnce(_ connection: Connection) throws -> Bool {
        do {
            try connection.send(bytes: try connection.receiveBytes())
            return true
        } catch {
            if error.code == .peerClosed { return false }
            throw error
        }
    }

    static func echoOnceAsync(_ connection: Connection) async throws -> Bool {
        do {
            try await connection.send(bytes: try await connection.receiveBytes())
            return true
        } catch let error as ConnectionError where error.code == .peerClosed {
            return false
        }
    }

    public static let functions: [any ProcessEntry] = [square, nothing, fail, sleep, exit, echoBytes, ask, writeRaw, halfFrame,
                                                       superviseAndWait, spawnUntilKilled, stubborn, connectionEcho, printLines, flood]
        + processFunctions + SharedMemoryEntries.functions + SynchronizeEntries.functions + FlowEntries.functions + SizeEntries.functions
        + ManagerSyncEntries.functions + forkServerFunctions
    /// Writes each line to standard output (the last one without a newline) and "oops" to
    /// standard error.
    public static let printLines = ProcessFunction("printLines") { (lines: [String]) -> Int in
        FileHandle.standardOutput.write(Data(lines.joined(separator: "\n").utf8))
        FileHandle.standardError.write(Data("oops\n".utf8))
        return lines.count
    }

    /// Sends `count` one-way messages of `size` bytes to the worker `target`.
    public struct Flood: Codable, Sendable {
        public var target: UInt64, count: Int, size: Int
        public init(target: UInt64, count: Int, size: Int) { self.target = target; self.count = count; self.size = size }
    }
    public static let flood = ProcessFunction("flood") { (job: Flood, context: WorkerContext) -> Int in
        let payload = Data(repeating: 7, count: job.size)   // bin, not an array of numbers
        for _ in 0..<job.count { try await context.send(payload, to: job.target) }
        return job.count
    }

    public static let workers: [any Worker.Type] = [Tally.self, Echo.self, Recorder.self, SlowCounter.self, StubbornTally.self, Relay.self, Volley.self, Patterned.self] + SharedMemoryEntries.workers + SizeEntries.workers
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

/// A ``Tally`` that ignores SIGTERM: under a `.timeout` shutdown it is slow to stop (only
/// SIGKILL at the end of the grace period ends it).
public struct StubbornTally: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        signal(SIGTERM, SIG_IGN)
        try await Tally().run(context)
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

/// Records what reaches its mailbox. Requests: `{"watch": id}` monitors that worker,
/// `{"send": id, "value": v}` sends `v` to that worker, anything else answers the record so far
/// (`{"from": id, "value": v}` per message, `{"down": id, "status": s}` per down report).
public struct Recorder: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        var seen: [MessagePackValue] = []
        for try await event in context.events {
            switch event {
            case .request(let request):
                if let target = request.value["watch"]?.int64Value {
                    try await context.monitor(UInt64(target))
                    try request.reply(true)
                } else if let target = request.value["send"]?.int64Value {
                    try await context.send(request.value["value"] ?? .nil, to: UInt64(target))
                    try request.reply(true)
                } else {
                    try request.reply(MessagePackValue.array(seen))
                }
            case .message(let from, let value):
                seen.append(["from": .uint(from), "value": value])
            case .down(let down):
                seen.append(["down": .uint(down.id), "status": try MessagePackValue(encoding: down.status)])
            }
        }
    }
}

/// Counts one-way messages, sleeping 1 s before reading the first (so a fast sender outruns it);
/// a request answers the count.
public struct SlowCounter: Worker {
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        var count = 0
        var slept = false
        for try await event in context.events {
            switch event {
            case .message:
                if !slept { try await Task.sleep(for: .seconds(1)); slept = true }
                count += 1
            case .request(let request): try request.reply(count)
            case .down: break
            }
        }
    }
}
