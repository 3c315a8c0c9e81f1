#if canImport(Glibc)
import Glibc
#endif
import CShims
import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// The front door (issue 10): a program that forgets bootstrap gets one clear error, not a
/// chain of processes; entries are checked before anything is spawned; a child that never
/// says hello is killed with its whole process group; foreign children can be stopped with
/// what they started; a resource limit is an error, not a crash.
@Suite(.serialized) struct FrontDoorTests {
    init() { TestWorker.use() }

    /// An executable built beside the test bundle.
    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: TestWorker.path).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Runs `executable` with `arguments`, waiting at most `limit` (then it is killed);
    /// returns its status (nil if it had to be killed), stdout and stderr.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    limit: Duration = .seconds(60)) async throws -> (status: Int32?, output: String, errors: String) {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while process.isRunning, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let finished = !process.isRunning
        if !finished { _ = Glibc.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (finished ? process.terminationStatus : nil, out, err)
    }

    /// Whether `pid` is gone or a zombie (dead, waiting for a parent to reap it).
    static func isDead(_ pid: Int32) -> Bool { ProcessControl.status(of: pid).map(\.isZombie) ?? true }

    /// Waits up to `limit` for every pid in `pids` to be dead.
    static func eventuallyDead(_ pids: [Int32], within limit: Duration = .seconds(10)) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while clock.now < deadline {
            if pids.allSatisfy(isDead) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return pids.allSatisfy(isDead)
    }

    // MARK: forgetting bootstrap

    @Test func forgettingBootstrapIsOneClearErrorAndStartsNoProcess() async throws {
        // In a PID namespace of its own: whatever the program starts dies with the namespace,
        // and the shell (its PID 1) lists what is left once the program returned.
        let script = #""$0"; code=$?; left=""; for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = 1 ] && continue; read c < $d/comm; left="$left $p:$c"; done; echo "code=$code left=[$left]""#
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let result = try await Self.run("/usr/bin/unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", "/bin/sh", "-c", script,
                                                             Self.sibling("MPForgetfulParent")],
                                        environment: environment, limit: .seconds(60))
        #expect(result.status == 0, "the namespace's shell did not finish: \(result)")
        #expect(result.output.contains("left=[]"), "processes left in the namespace: \(result.output)")
        #expect(!result.output.contains("code=0 "), "the program succeeded without bootstrap: \(result.output)")
        #expect(result.errors.components(separatedBy: "notBootstrapped").count == 2, "expected one notBootstrapped error: \(result.errors)")
        #expect(result.errors.contains("Multiprocessing.bootstrap"), "the error does not say what to call: \(result.errors)")
    }

    @Test func anUnregisteredEntryIsRefusedBeforeAnythingIsSpawned() async throws {
        let before = Set(try ProcessControl.children().map(\.pid))
        let unregistered = ProcessFunction("not-registered-anywhere") { (x: Int) in x }
        do {
            _ = try await ChildProcess.run(unregistered, 1)
            Issue.record("an unregistered entry started")
        } catch let error as ProcessError {
            #expect(error.code == .unknownEntry)
            #expect(error.status == nil, "a child was started and ended: \(error)")
            #expect(error.message.contains("not-registered-anywhere"))
            #expect(error.message.contains("\"\(TestEntries.square.name)\""), "the registered entries are not listed: \(error)")
        }
        #expect(Set(try ProcessControl.children().map(\.pid)).subtracting(before).isEmpty)
    }

    @Test func aChildStartedForAnEntryChecksItsParentBeforeMain() async throws {
        // MP_PARENT_PID names a process that is not the parent: the constructor in CShims
        // (not bootstrap, which exits silently) must end the child before main runs.
        #expect(mp_early_child_check_ran() == 1, "the constructor did not run in the test bundle")
        var environment = ProcessInfo.processInfo.environment
        environment["MP_ENTRY"] = TestEntries.square.name
        environment["MP_PARENT_PID"] = "1"
        let result = try await Self.run(TestWorker.path, [], environment: environment, limit: .seconds(30))
        #expect(result.status == ChildExitCode.orphaned)
        #expect(result.errors.contains("exiting before main"), "the constructor did not run in MPTestWorker: \(result.errors)")
    }

    // MARK: process groups

    @Test func aChildThatNeverSaysHelloIsKilledWithItsGroupAtTheHandshakeTimeout() async throws {
        try ProcessControl.setChildSubreaper(true)
        defer { try? ProcessControl.setChildSubreaper(false) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mp-hello-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = ProcessOptions(name: "silent")
        options.handshakeTimeout = .seconds(2)
        do {
            _ = try await ChildProcess.start(executable: "/bin/sh",
                                             arguments: ["-c", "sleep 60 & echo \"$$ $!\" > \"$0/pids\"; wait", directory],
                                             options: options)
            Issue.record("a child that never said hello was started")
        } catch let error as ProcessError {
            #expect(error.code == .timedOut)
        }
        let pids = try String(contentsOfFile: directory + "/pids", encoding: .utf8).split(separator: " ")
            .compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(pids.count == 2)
        #expect(try await Self.eventuallyDead(pids), "left alive: \(pids.filter { !Self.isDead($0) })")
        for pid in pids where ProcessControl.status(of: pid)?.parentID == ProcessControl.id { _ = try? ProcessControl.reapChild(pid) }
    }

    @Test func aForeignChildStartsWithAnEmptySignalMaskAndDefaultDispositions() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mp-mask-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = ProcessOptions(name: "masked")
        options.handshakeTimeout = .seconds(2)
        _ = try? await ChildProcess.start(executable: "/bin/sh",
                                          arguments: ["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status > \"$0/status\"; sleep 60", directory],
                                          options: options)
        let masks = try Self.signalMasks(directory + "/status")
        #expect(masks["SigBlk"] == 0, "blocked: \(masks)")
        // glibc's posix_spawn leaves its internal signals 32 and 33 ignored (Spawn.swift).
        #expect((masks["SigIgn"] ?? .max) & ~UInt64(0x3 << 31) == 0, "ignored: \(masks)")
    }

    @Test func terminateEndsAForeignChildAndWhatItStarted() async throws {
        guard PythonWorker.unavailableReason == nil else { return }
        try ProcessControl.setChildSubreaper(true)
        defer { try? ProcessControl.setChildSubreaper(false) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mp-term-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let worker = try await ChildProcess.start(
            executable: "/bin/sh", arguments: ["-c", "sleep 60 & echo $! > \"$1\"; exec python3 \"$0\"", PythonWorker.script, directory + "/sleep.pid"],
            options: .init(name: "foreign"))
        #expect(try await worker.request(5, as: Int.self, timeout: .seconds(30)) == 5)
        let sleeper = try #require(Int32(try String(contentsOfFile: directory + "/sleep.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!Self.isDead(sleeper))
        worker.terminate()
        #expect(try await worker.join(timeout: .seconds(30)) == .signaled(.terminate))
        #expect(try await Self.eventuallyDead([sleeper]), "the background sleep survived terminate()")
        if ProcessControl.status(of: sleeper)?.parentID == ProcessControl.id { _ = try? ProcessControl.reapChild(sleeper) }
    }

    @Test func aForeignDaemonDoesNotDelayTheParentsExit() async throws {
        guard PythonWorker.unavailableReason == nil else { return }
        try ProcessControl.setChildSubreaper(true)
        defer { try? ProcessControl.setChildSubreaper(false) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mp-daemon-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await Self.run(TestWorker.path, ["--demo-foreign-daemon", PythonWorker.script, directory], limit: .seconds(60))
        let elapsed = clock.now - started
        #expect(result.status == 0, "\(result)")
        // Upper bound: the exit joins non-daemon children for up to 10 s, never daemons.
        #expect(elapsed < .seconds(8), "the parent's exit waited \(elapsed) for its daemon")
        let pids = result.output.split(separator: "\n").first { $0.hasPrefix("pids ") }?.split(separator: " ").dropFirst().compactMap { Int32($0) } ?? []
        #expect(pids.count == 2, "\(result)")
        #expect(try await Self.eventuallyDead(pids), "left alive: \(pids.filter { !Self.isDead($0) })")
        for pid in pids where ProcessControl.status(of: pid)?.parentID == ProcessControl.id { _ = try? ProcessControl.reapChild(pid) }
        // Started through the trampoline (this demo has no default executable).
        let masks = try Self.signalMasks(directory + "/status")
        #expect(masks["SigBlk"] == 0, "blocked through the trampoline: \(masks)")
        #expect((masks["SigIgn"] ?? .max) & ~UInt64(0x3 << 31) == 0, "ignored through the trampoline: \(masks)")
    }

    /// The `SigBlk` and `SigIgn` lines of a copy of `/proc/PID/status`, as numbers.
    static func signalMasks(_ path: String) throws -> [String: UInt64] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        return Dictionary(uniqueKeysWithValues: lines.map { line -> (String, UInt64) in
            let parts = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            return (parts[0], UInt64(parts[1], radix: 16) ?? .max)
        })
    }

    // MARK: memory

    @Test func aFinishedChildsRecordIsFreedAtOnce() async throws {
        // Its waits' timeouts (a 30 s handshake timeout by default) are cancelled when the
        // waits end: a pending timer kept every record of the last 30 s alive (about 5 KiB a
        // spawn in scripts/long-spawn-run).
        weak var record: ChildRecord?
        do {
            let child = try await ChildProcess.start(TestEntries.nothing, 0)
            record = child.record as? ChildRecord
            #expect(try await child.join(timeout: .seconds(30)) == .exited(0))
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        while record != nil, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(record == nil, "the record of a finished child is still alive")
    }

    // MARK: resource limits

    @Test func aSupervisorThatCannotStartIsATypedErrorNotACrash() async throws {
        let result = try await Self.run(TestWorker.path, ["--demo-nofile"], limit: .seconds(60))
        #expect(result.status == 0, "the demo parent crashed: \(result)")
        #expect(result.output.hasPrefix("error supervisorUnavailable"), "\(result)")
        #expect(result.output.contains("RLIMIT_NOFILE"), "the error does not name the limit: \(result)")
    }
}
