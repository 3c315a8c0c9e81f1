import Foundation
import MessagePack
import Testing
@testable import Multiprocessing

/// The Python reference worker (Protocols/python/worker.py) under the Swift supervisor: any
/// executable that speaks Protocols/PROTOCOL.md is a worker. It echoes every request, answers
/// `{"raise": type, "message": m}` with an error envelope and exits on `{"exit": N}`.
@Suite(.serialized, .enabled(if: PythonWorker.unavailableReason == nil,
                             Comment(rawValue: PythonWorker.unavailableReason ?? "")))
struct PythonWorkerTests {
    init() { TestWorker.use() }

    // MARK: values

    struct Reading: Codable, Equatable, Sendable {
        struct Place: Codable, Equatable, Sendable {
            var lat: Double
            var lon: Double
        }
        var id: Int
        var name: String
        var value: Double
        var tags: [String]
        var note: String?
        var raw: Data
        var place: Place
        var when: Date
    }

    static let reading = Reading(id: -42, name: "héllo wörld ☃", value: 0.1, tags: ["a", "", "ü"], note: nil,
                                 raw: Data([0, 1, 0x7f, 0x80, 0xff]), place: .init(lat: 59.3293, lon: -18.0686),
                                 when: Date(timeIntervalSince1970: 1_700_000_000.5))

    @Test func theHandshakeGivesALiveWorker() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            #expect(worker.pid > 0)
            #expect(worker.id > 0)
            #expect(worker.isAlive)
            #expect(worker.name == "python-echo")
            #expect(ChildProcess.activeChildren().contains(worker))
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func scalarsComeBackExactly() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            for value in [0, 1, -1, 127, 128, -32, -33, 255, 65_536, Int.max, Int.min] {
                #expect(try await worker.request(value, as: Int.self, timeout: .seconds(30)) == value)
            }
            #expect(try await worker.request(UInt64.max, as: UInt64.self, timeout: .seconds(30)) == .max)
            for value in ["", "a", "héllo ☃ 🎉", String(repeating: "x", count: 300), String(repeating: "é", count: 70_000)] {
                #expect(try await worker.request(value, as: String.self, timeout: .seconds(30)) == value)
            }
            for value in [true, false] {
                #expect(try await worker.request(value, as: Bool.self, timeout: .seconds(30)) == value)
            }
            for value in [0.0, -0.0, 0.1, 1e308, -.infinity, .leastNonzeroMagnitude] as [Double] {
                let back = try await worker.request(value, as: Double.self, timeout: .seconds(30))
                #expect(back.bitPattern == value.bitPattern, "\(value)")
            }
            #expect(try await worker.request(Double.nan, as: Double.self, timeout: .seconds(30)).isNaN)
            // Python has no float32: it answers a float64 holding the same value.
            #expect(try await worker.request(Float(0.1), as: Float.self, timeout: .seconds(30)) == Float(0.1))
            #expect(try await worker.request(Int?.none, as: Int?.self, timeout: .seconds(30)) == nil)
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func dataTravelsAsBin() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            let large = Data((0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            for value in [Data(), Data([0]), Data([0, 0xc1, 0xff]), Data(repeating: 0xab, count: 70_000), large] {
                #expect(try await worker.request(value, as: Data.self, timeout: .seconds(30)) == value)
            }
            // bin, not an array of integers: the bytes come back as they went.
            let back = try await worker.request(Data([1, 2, 3]), as: MessagePackValue.self, timeout: .seconds(30))
            #expect(back == .binary(Data([1, 2, 3])))
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func aStructIsADictInPythonAndComesBackEqual() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            #expect(try await worker.request(Self.reading, as: Reading.self, timeout: .seconds(30)) == Self.reading)
            var withNote = Self.reading
            withNote.note = "present"
            #expect(try await worker.request(withNote, as: Reading.self, timeout: .seconds(30)) == withNote)
            // Key order and every integer width survive Python's dict: byte for byte.
            let bytes = try MessagePackEncoder().encode(withNote)
            let back = try await worker.request(withNote, as: MessagePackValue.self, timeout: .seconds(30))
            #expect(back.packed() == bytes)
            #expect(back["name"] == .string(withNote.name))
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func nestedArraysAndMapsComeBackExactly() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            let grid: [[Int]] = [[], [1], [1, 2, 3], [-1, 300, Int.min]]
            #expect(try await worker.request(grid, as: [[Int]].self, timeout: .seconds(30)) == grid)
            let tree: [String: [String: [Int]]] = ["a": ["x": [1, 2], "y": []], "b": [:], "": ["": [0]]]
            #expect(try await worker.request(tree, as: [String: [String: [Int]]].self, timeout: .seconds(30)) == tree)
            let byNumber: [Int: String] = [1: "one", -2: "minus two", 300: "three hundred"]
            #expect(try await worker.request(byNumber, as: [Int: String].self, timeout: .seconds(30)) == byNumber)
            let mixed: [[String: [Data]]] = [["k": [Data([1]), Data()]], [:]]
            #expect(try await worker.request(mixed, as: [[String: [Data]]].self, timeout: .seconds(30)) == mixed)
            // 32 nested arrays: the deepest payload the protocol allows.
            var deep: MessagePackValue = 7
            for _ in 0..<32 { deep = [deep] }
            let back = try await worker.request(deep, as: MessagePackValue.self, timeout: .seconds(30))
            #expect(back == deep)
            // Map entry order is kept, whatever the keys.
            let ordered: MessagePackValue = ["z": 1, "a": 2, 3: "three", "m": [nil, true, 1.5]]
            let orderedBack = try await worker.request(ordered, as: MessagePackValue.self, timeout: .seconds(30))
            #expect(orderedBack.packed() == ordered.packed())
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func concurrentRequestsEachGetTheirOwnAnswer() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<64 {
                    group.addTask { (i, try await worker.request("value \(i)", as: String.self, timeout: .seconds(30))) }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(answers.count == 64)
            for (i, answer) in answers { #expect(answer == "value \(i)") }
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    // MARK: errors

    struct Raise: Codable, Sendable {
        var raise: String
        var message: String
    }

    @Test func anErrorEnvelopeIsARemoteErrorWithItsTypeAndMessage() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            do {
                _ = try await worker.request(Raise(raise: "builtins.KeyError", message: "no key 'x' here"),
                                             as: String.self, timeout: .seconds(30))
                Issue.record("the error envelope was lost")
            } catch let error as RemoteError {
                #expect(error.typeName == "builtins.KeyError")
                #expect(error.message == "no key 'x' here")
            }
            // Without a type name: ValueError.
            let untyped: MessagePackValue = ["raise": true, "message": "bad value"]
            await #expect(throws: RemoteError(typeName: "ValueError", message: "bad value")) {
                _ = try await worker.request(untyped, as: MessagePackValue.self, timeout: .seconds(30))
            }
            // The worker carries on after answering with an error.
            #expect(try await worker.request(5, as: Int.self, timeout: .seconds(30)) == 5)
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func aReplyOfTheWrongTypeIsADecodingErrorAndTheWorkerCarriesOn() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            await #expect(throws: DecodingError.self) {
                _ = try await worker.request("not a number", as: Int.self, timeout: .seconds(30))
            }
            #expect(try await worker.request(9, as: Int.self, timeout: .seconds(30)) == 9)
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    // MARK: endings

    struct Exit: Codable, Sendable { var exit: Int }

    @Test(arguments: [0, 3, 7, 255])
    func exitWithACodeSeenByJoin(code: Int) async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            #expect(try await worker.request(1, as: Int.self, timeout: .seconds(30)) == 1)
            do {
                _ = try await worker.request(Exit(exit: code), as: Int.self, timeout: .seconds(30))
                Issue.record("a worker that exited answered")
            } catch let error as ProcessError {
                #expect(error.code == .childExited)
                #expect(error.status == .exited(Int32(code)))
            }
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(Int32(code)))
            #expect(worker.exitCode == Int32(code))
            #expect(!worker.isAlive)
        }
    }

    @Test func closeEndsItWithStatusZero() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            #expect(try await worker.request("before", as: String.self, timeout: .seconds(30)) == "before")
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
            #expect(worker.exitCode == 0)
            await #expect(throws: ProcessError.self) {
                _ = try await worker.request("after", as: String.self, timeout: .seconds(30))
            }
        }
    }

    @Test func closeRightAfterStartEndsItWithStatusZero() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func aGoodbyeFromTheSupervisorEndsItWithStatusZero() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            #expect(try await worker.request(1, as: Int.self, timeout: .seconds(30)) == 1)
            worker.sayGoodbye()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func killedItEndsBySignal() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            worker.kill()
            #expect(try await worker.join(timeout: .seconds(30)) == .signaled(.kill))
        }
    }

    @Test func theScriptStartsDirectlyThroughItsShebangLine() async throws {
        try await withWorker(direct: true) { (worker: ChildProcess) async throws in
            #expect(try await worker.request(["direct": [1, 2]], as: [String: [Int]].self, timeout: .seconds(30)) == ["direct": [1, 2]])
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func severalWorkersAtOnce() async throws {
        let workers = try await withThrowingTaskGroup(of: ChildProcess.self) { group in
            for _ in 0..<4 { group.addTask { try await PythonWorker.start() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(workers.map(\.id)).count == 4)
        for (i, worker) in workers.enumerated() {
            #expect(try await worker.request(i, as: Int.self, timeout: .seconds(30)) == i)
        }
        for worker in workers { worker.closeMailbox() }
        for worker in workers {
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
            try await PythonWorker.expectGone(worker)
        }
    }

    // MARK: frames the Swift API does not send (written through the record, @testable)

    @Test func anUnknownKindIsAnsweredWithProtocolErrorUnknownKind() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            let record = worker.record as! ChildRecord
            // The worker's mailbox is paused so the request is registered but held; the unknown
            // frame, written directly with the request's correlation id, then goes first and
            // its error answers the request; the echo that follows finds no waiter (dropped).
            let correlation = record.nextToken() + 1
            try await record.loop.submit { record.mailboxFlow(.pause) }.get()
            let reply = Task { try await worker.request("echo", as: String.self, timeout: .seconds(30)) }
            while try await !record.loop.submit({ record.awaitsReply(to: correlation) }).get() {
                try await Task.sleep(for: .milliseconds(1))
            }
            try await record.loop.submit {
                record.write(Envelope(Envelope.Kind(rawValue: 99), from: Envelope.supervisor, to: record.id, correlation: correlation), "?")
                record.mailboxFlow(.resume)
            }.get()
            await #expect(throws: RemoteError.unknownKind(Envelope.Kind(rawValue: 99))) { try await reply.value }
            // The channel stays open.
            #expect(try await worker.request("still here", as: String.self, timeout: .seconds(30)) == "still here")
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    @Test func aOneWayMessageIsNotAnswered() async throws {
        try await withWorker { (worker: ChildProcess) async throws in
            let record = worker.record
            record.loop.execute {
                record.write(Envelope(.message, from: Envelope.supervisor, to: record.id), ["exit": 9])
            }
            // Had it acted on the message, it would have exited with 9.
            #expect(try await worker.request(2, as: Int.self, timeout: .seconds(30)) == 2)
            worker.closeMailbox()
            #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        }
    }

    // MARK: helpers

    /// Starts the worker, runs `body`, and leaves nothing behind: a worker `body` left running
    /// is killed and reaped (and the test fails), and the process must be gone afterwards.
    private func withWorker(direct: Bool = false, _ body: (ChildProcess) async throws -> Void) async throws {
        let worker = try await PythonWorker.start(direct: direct)
        do {
            try await body(worker)
        } catch {
            worker.kill()
            _ = try? await worker.join(timeout: .seconds(30))
            throw error
        }
        if worker.isAlive {
            Issue.record("the test left \(worker) running")
            worker.kill()
            _ = try await worker.join(timeout: .seconds(30))
        }
        try await PythonWorker.expectGone(worker)
    }
}

/// Where the Python worker is and whether it can run here.
enum PythonWorker {
    /// Protocols/python/worker.py, found from this file's path.
    static let script: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // MultiprocessingTests
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // the package root
        .appendingPathComponent("Protocols/python/worker.py").path

    /// Why the tests cannot run, or nil when `python3` and its `msgpack` module (1.0 or later) are there.
    static let unavailableReason: String? = {
        guard FileManager.default.fileExists(atPath: script) else { return "the Python worker is missing: \(script)" }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import sys, msgpack; sys.exit(0 if msgpack.version >= (1, 0) else 3)"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        do { try check.run() } catch { return "/usr/bin/env could not be started (\(error)); the Python worker needs python3 with msgpack" }
        check.waitUntilExit()
        switch check.terminationStatus {
        case 0: return nil
        case 127: return "python3 is not on PATH; the Python worker needs it (with msgpack 1.0 or later)"
        case 3: return "the Python worker needs msgpack 1.0 or later (pip install -U msgpack)"
        default: return "the Python worker needs the msgpack module (pip install msgpack)"
        }
    }()

    /// Starts it through `/usr/bin/env python3`, or as the script itself (its `#!` line).
    static func start(direct: Bool = false) async throws -> ChildProcess {
        if direct {
            return try await ChildProcess.start(executable: script, options: .init(name: "python-echo"))
        }
        return try await ChildProcess.start(executable: "/usr/bin/env", arguments: ["python3", script],
                                            options: .init(name: "python-echo"))
    }

    /// The supervisor forgot it and no process (not even a zombie) is left with its pid.
    static func expectGone(_ worker: ChildProcess, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(!worker.isAlive, sourceLocation: sourceLocation)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        while ChildProcess.activeChildren().contains(worker), clock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(!ChildProcess.activeChildren().contains(worker), "the supervisor still lists \(worker)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(worker.pid)"), "pid \(worker.pid) is still there", sourceLocation: sourceLocation)
    }
}
