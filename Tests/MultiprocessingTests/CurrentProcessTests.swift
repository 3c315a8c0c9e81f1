import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Python's `current_process()`, `parent_process()`, `connection.wait` over children and
/// connections, and its exit rules (daemons terminated, the others joined).
@Suite(.serialized) struct CurrentProcessTests {
    init() { TestWorker.use() }

    @Test func theMainProcessIsMainProcessAndHasNoParent() {
        let me = Multiprocessing.currentProcess
        #expect(me.name == "MainProcess")
        #expect(me.pid == getpid())
        #expect(me.entry == nil)
        #expect(!me.isDaemon)
        #expect(Multiprocessing.parentProcess == nil)
    }

    @Test(arguments: [false, true]) func aChildKnowsItsNameDaemonFlagAndParent(daemon: Bool) async throws {
        let child = try await ChildProcess.start(TestEntries.whoAmI, 0, options: ProcessOptions(name: "curious", daemon: daemon))
        let identity = try await child.value
        try await child.join()
        #expect(identity.name == "curious")
        #expect(identity.pid == child.pid)
        #expect(identity.isDaemon == daemon)
        #expect(identity.entry == "whoAmI")
        #expect(identity.parentName == "MainProcess")
        #expect(identity.parentPID == getpid())
        #expect(identity.parentIsAlive == true)
        #expect(identity.parentJoinTimedOut == true, "joining a live parent with a timeout returns false")
    }

    @Test func waitReturnsTheConnectionThatHasAFrameThenTheChildThatExited() async throws {
        let (mine, theirs) = try Connection.pair()
        defer { mine.close(); theirs.close() }
        let sleeper = try await ChildProcess.start(TestEntries.sleep, 300)
        // Nothing ready yet: a short wait times out empty.
        #expect(try await Multiprocessing.wait(for: [sleeper, mine], timeout: .milliseconds(20)).isEmpty)
        try await theirs.send(5)
        let first = try await Multiprocessing.wait(for: [sleeper, mine])
        #expect(first.count == 1 && first[0] === mine)
        #expect(try await mine.receive(Int.self) == 5)
        let second = try await Multiprocessing.wait(for: [sleeper, mine], timeout: .seconds(30))
        #expect(second.count == 1 && second[0] === sleeper)
        #expect(sleeper.exitCode == 0)
    }

    @Test func waitTakesANegativeTimeoutAsZeroAndAnEmptyListReturnsAtOnce() async throws {
        #expect(try await Multiprocessing.wait(for: [], timeout: .seconds(-1)).isEmpty)
        #expect(try await Multiprocessing.wait(for: []).isEmpty)
    }

    @Test func waitIsCancelled() async throws {
        let (mine, theirs) = try Connection.pair()
        defer { mine.close(); theirs.close() }
        let waiting = Task { try await Multiprocessing.wait(for: [mine]) }
        try await ConnectionTests.waitUntilReceiving(mine)
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }

    @Test func aConnectionClosedAfterItWasPassedIsAnErrorAtStart() async throws {
        let (mine, theirs) = try Connection.pair()
        defer { mine.close() }
        var options = ProcessOptions()
        try options.pass(theirs, as: "late")
        theirs.close()
        do {
            _ = try await ChildProcess.start(TestEntries.square, 1, options: options)
            Issue.record("a closed connection's descriptor numbers were handed to a child")
        } catch let error as ConnectionError {
            #expect(error.code == .closed)
            #expect(error.message.contains("\"late\""))
        }
    }

    /// At the parent's exit a daemon child is terminated (SIGTERM, not left to finish its
    /// minute of sleep) and a non-daemon child is waited for (its late write happens).
    @Test func atExitDaemonsAreTerminatedAndTheOthersJoined() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mp-exit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (demo, output, errors) = try TestWorker.launchDemo(["--demo-exit", directory.path])
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        demo.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(demo.terminationStatus == 0, "\(stderr)")
        #expect(report == "daemon killed by SIGTERM\nworker exited with code 0\n", "\(report)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("done").path),
                "the non-daemon child was stopped before it finished")
    }
}

/// The runnable example, run as a user runs it: its children are the example binary itself
/// (`/proc/self/exe`, Python's "spawn"), not the tests' helper.
@Suite(.serialized) struct ExampleTests {
    @Test func processTourRunsToTheEnd() throws {
        let tour = URL(fileURLWithPath: TestWorker.path).deletingLastPathComponent().appendingPathComponent("ProcessTour")
        try #require(FileManager.default.isExecutableFile(atPath: tour.path), "build ProcessTour first (swift build --build-tests builds it)")
        let process = Foundation.Process()
        process.executableURL = tour
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(text.contains("1. run: 1229 primes below 10,000"), "\(text)")
        #expect(text.contains("curious, started by MainProcess"))
        #expect(text.contains(": 9592 primes below 100,000"))
        #expect(text.contains("3. over a connection: [1, 4, 9, 16, 25] then exited with code 0"))
        #expect(text.contains("which answers 7"))
        #expect(text.contains("children left: 0"))
    }
}
