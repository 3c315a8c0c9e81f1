import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// A running supervision tree changed from outside, as an operator or mpctl changes it: a
/// child added and taken away (OTP's start_child, terminate_child), one restarted on request,
/// and a gentle end that lets workers finish by themselves.
@Suite(.serialized) struct SupervisorChangesTests {
    init() { TestWorker.use() }

    @Test func aChildAddedToARunningTreeIsSupervisedAndAnIdInUseIsRefused() async throws {
        let supervisor = Supervisor(strategy: .oneForOne, intensity: 3, period: .seconds(5), children: [.worker("a", Tally.self)])
        try await supervisor.start()
        try await supervisor.startChild(.worker("b", Tally.self))
        #expect(await supervisor.specs.map(\.id) == ["a", "b"])
        let first = try #require(await supervisor.child("b"))
        #expect(try await first.request(2, as: Int.self) == 2)
        first.kill()
        // Killed, it is restarted by its policy like any child started with the tree.
        var replacement: ChildProcess?
        for _ in 0..<500 where replacement == nil {
            if let now = await supervisor.child("b"), now !== first, now.isAlive { replacement = now } else { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(try await #require(replacement).request(5, as: Int.self) == 5)
        await #expect(throws: SupervisorError.self) { try await supervisor.startChild(.worker("a", Tally.self)) }
        await supervisor.shutdown()
    }

    @Test func aTerminatedChildIsStoppedAndNotRestarted() async throws {
        let supervisor = Supervisor(strategy: .oneForAll, intensity: 3, period: .seconds(5), children: [.worker("a", Tally.self), .worker("b", Tally.self)])
        try await supervisor.start()
        let a = try #require(await supervisor.child("a"))
        let b = try #require(await supervisor.child("b"))
        try await supervisor.terminateChild("b")
        #expect(b.status != nil)
        #expect(await supervisor.child("b") == nil)
        #expect(await supervisor.specs.map(\.id) == ["a"])
        // One for all: had b counted as a crash, a would have been restarted with it.
        try await Task.sleep(for: .milliseconds(200))
        #expect(await supervisor.child("a") === a && a.isAlive)
        await supervisor.shutdown()
    }

    @Test func aTerminationWithGraceLetsTheWorkerEndByItself() async throws {
        let supervisor = Supervisor(strategy: .oneForOne, intensity: 0, period: .seconds(60), children: [.worker("a", Tally.self)])
        try await supervisor.start()
        let a = try #require(await supervisor.child("a"))
        try await supervisor.terminateChild("a", grace: .seconds(10))
        #expect(a.status == .exited(0), "its mailbox closed, it returned: not a signal")
        #expect(await supervisor.specs.isEmpty)
        await supervisor.shutdown()
        try await supervisor.wait()   // intensity 0: had the exit counted as a crash, this would throw
    }

    @Test func anOperatorsRestartReplacesTheChildWithoutSpendingTheIntensity() async throws {
        // An intensity of 0: a single crash would end the tree; three restarts on request do not.
        let supervisor = Supervisor(strategy: .oneForOne, intensity: 0, period: .seconds(60), children: [.worker("a", Tally.self)])
        try await supervisor.start()
        var pids: Set<Int32> = []
        for _ in 0..<3 {
            try await supervisor.restartChild("a")
            let child = try #require(await supervisor.child("a"))
            #expect(try await child.request(1, as: Int.self) == 1, "a fresh incarnation starts from 0")
            pids.insert(child.pid)
        }
        #expect(pids.count == 3)
        await supervisor.shutdown()
        try await supervisor.wait()
    }

    @Test func drainClosesEachMailboxSoWorkersEndByThemselvesAndNothingIsRestarted() async throws {
        let supervisor = Supervisor(strategy: .oneForOne, intensity: 0, period: .seconds(60),
                                    children: [.worker("a", Tally.self), .worker("b", Tally.self)])
        try await supervisor.start()
        let a = try #require(await supervisor.child("a"))
        let b = try #require(await supervisor.child("b"))
        await supervisor.drain(grace: .seconds(10))
        // A worker whose mailbox ends returns: exit 0, not a signal; and intensity 0 did not end the tree.
        #expect(a.status == .exited(0) && b.status == .exited(0))
        try await supervisor.wait()
        await #expect(throws: SupervisorError.self) { try await supervisor.startChild(.worker("c", Tally.self)) }
    }
}
