import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// The process API, with real children (MPTestWorker) started and killed.
@Suite(.serialized) struct ChildProcessTests {
    init() { TestWorker.use() }

    @Test func runReturnsTheFunctionsResult() async throws {
        #expect(try await ChildProcess.run(TestEntries.square, 7) == 49)
    }

    @Test func startThenResultThenJoin() async throws {
        let child = try await ChildProcess.start(TestEntries.square, 12, options: .init(name: "squarer"))
        #expect(child.name == "squarer")
        #expect(child.pid > 0)
        #expect(try await child.value == 144)
        #expect(try await child.join() == .exited(0))
        #expect(!child.isAlive)
        #expect(child.exitCode == 0)
    }

    @Test func anErrorThrownInTheChildComesBackWithItsTypeAndMessage() async throws {
        do {
            _ = try await ChildProcess.run(TestEntries.fail, 0)
            Issue.record("the child's error was lost")
        } catch let error as RemoteError {
            #expect(error.typeName.hasSuffix("Failure"), "\(error.typeName)")
            #expect(error.message == "the child failed on purpose")
        }
    }

    @Test func aFailedFunctionExitsWithCodeOne() async throws {
        let child = try await ChildProcess.start(TestEntries.fail, 0)
        _ = try? await child.value
        #expect(try await child.join() == .exited(1))
    }

    @Test func joinWithATimeoutReturnsNilWhileTheChildRuns() async throws {
        let child = try await ChildProcess.start(TestEntries.sleep, 10_000)
        #expect(try await child.join(timeout: .milliseconds(100)) == nil)
        #expect(child.isAlive)
        #expect(child.exitCode == nil)
        child.kill()
        #expect(try await child.join() == .signaled(.kill))
        #expect(child.exitCode == -9)
    }

    @Test func resultWithATimeoutThrowsTimedOutAndTheChildKeepsRunning() async throws {
        let child = try await ChildProcess.start(TestEntries.sleep, 10_000)
        do {
            _ = try await child.result(timeout: .milliseconds(50))
            Issue.record("a result arrived from a child that sleeps for ten seconds")
        } catch let error as ProcessError {
            #expect(error.code == .timedOut)
        }
        #expect(child.isAlive)
        let zero = await #expect(throws: ProcessError.self) { try await child.result(timeout: .seconds(-1)) }
        #expect(zero?.code == .timedOut, "a negative timeout means zero")
        child.kill()
        #expect(try await child.join() == .signaled(.kill))
    }

    @Test func terminateSendsSIGTERM() async throws {
        let child = try await ChildProcess.start(TestEntries.sleep, 10_000)
        child.terminate()
        #expect(try await child.join(timeout: .seconds(10)) == .signaled(.terminate))
    }

    @Test func aChildThatExitsWithoutAnsweringFailsTheResult() async throws {
        let child = try await ChildProcess.start(TestEntries.exit, 3)
        do {
            _ = try await child.value
            Issue.record("a result came from a child that never answered")
        } catch let error as ProcessError {
            #expect(error.code == .childExited)
            #expect(error.status == .exited(3))
        }
    }

    @Test func aKilledChildFailsTheResultWithItsSignal() async throws {
        let child = try await ChildProcess.start(TestEntries.sleep, 10_000)
        child.kill()
        do {
            _ = try await child.value
            Issue.record("a result came from a killed child")
        } catch let error as ProcessError {
            #expect(error.status == .signaled(.kill))
        }
    }

    @Test func aMissingExecutableIsAnErrorNamingThePath() async throws {
        do {
            _ = try await ChildProcess.run(TestEntries.square, 1, options: .init(executable: "/nonexistent/worker"))
            Issue.record("a missing executable started")
        } catch let error as ProcessError {
            #expect(error.code == .spawnFailed)
            #expect(error.message.contains("/nonexistent/worker"))
        }
    }

    @Test func aNegativeJoinTimeoutMeansZero() async throws {
        let child = try await ChildProcess.start(TestEntries.sleep, 10_000)
        #expect(try await child.join(timeout: .seconds(-1)) == nil, "a running child: the wait only looks")
        child.kill()
        try await child.join()
        #expect(try await child.join(timeout: .seconds(-1)) == .signaled(.kill))
    }

    @Test func aWorkerAnswersRequestsUntilItsChannelCloses() async throws {
        let tally = try await ChildProcess.start(Tally.self)
        #expect(try await tally.request(5, as: Int.self) == 5)
        #expect(try await tally.request(10, as: Int.self) == 15)
        tally.closeMailbox()
        #expect(try await tally.join(timeout: .seconds(10)) == .exited(0))
    }

    @Test func aRequestToADeadWorkerFails() async throws {
        let echo = try await ChildProcess.start(Echo.self)
        echo.kill()
        try await echo.join()
        await #expect(throws: ProcessError.self) { _ = try await echo.request("x", as: String.self) }
    }

    @Test func manyChildrenAtOnce() async throws {
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<8 { group.addTask { try await ChildProcess.run(TestEntries.square, i) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.sorted() == (0..<8).map { $0 * $0 })
    }

    @Test func waitForAnyReturnsTheFirstToExit() async throws {
        let slow = try await ChildProcess.start(TestEntries.sleep, 10_000)
        let fast = try await ChildProcess.start(TestEntries.sleep, 10)
        let exited = try await ChildProcess.waitForAny([slow, fast], timeout: .seconds(10))
        #expect(exited == [fast])
        slow.kill()
        try await slow.join()
    }

    @Test func activeChildrenListsTheLiveOnes() async throws {
        let child = try await ChildProcess.start(TestEntries.sleep, 10_000)
        #expect(ChildProcess.activeChildren().contains(child))
        child.kill()
        try await child.join()
        #expect(!ChildProcess.activeChildren().contains(child))
    }

    @Test func cpuCountIsPositive() {
        #expect(Multiprocessing.cpuCount >= 1)
    }
}
