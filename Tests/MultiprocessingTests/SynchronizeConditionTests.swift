import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// `Condition.notify(n)` wakes the n oldest waiters and no others (Python's), across processes;
/// a timeout answers false; a waiter killed while it waits takes no notification with it.
@Suite(.serialized) struct SynchronizeConditionTests {
    typealias Counter = SyncTest.Counter
    init() { TestWorker.use() }

    /// Longer than the sleepers' old once-a-second look at the condition, after which every
    /// waiter used to return as if notified.
    static let settle: Duration = .milliseconds(2_500)

    /// Starts `count` processes that each wait once on `condition`, and returns once all of
    /// them sleep in it.
    func startWaiters(_ count: Int, on condition: Condition, woken: Counter) async throws -> [ChildProcess] {
        var children: [ChildProcess] = []
        for _ in 0..<count {
            let job = SynchronizeEntries.WaitOnce(condition: condition, woken: woken, timeoutMilliseconds: 60_000)
            children.append(try await ChildProcess.start(SynchronizeEntries.waitOnce, job))
            try await waitUntil { condition.sleepers == children.count }
        }
        return children
    }

    func waitUntil(_ predicate: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try !predicate(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try predicate())
    }

    @Test func notifyWakesExactlyAsManyWaitersAsAskedAndNotifyAllTheRest() async throws {
        let condition = try Condition(lock: try Lock())
        let woken = try Counter(0, lock: .none)
        let children = try await startWaiters(4, on: condition, woken: woken)

        try await condition.withLock { try condition.notify(1) }
        try await waitUntil { try SyncTest.read(woken) == 1 }
        try await Task.sleep(for: Self.settle)
        #expect(try SyncTest.read(woken) == 1, "notify(1) woke more than one waiter")

        try await condition.withLock { try condition.notify(2) }
        try await waitUntil { try SyncTest.read(woken) == 3 }
        try await Task.sleep(for: Self.settle)
        #expect(try SyncTest.read(woken) == 3, "notify(2) woke more than two waiters")

        try await condition.withLock { try condition.notifyAll() }
        try await waitUntil { try SyncTest.read(woken) == 4 }
        for child in children {
            #expect(try await child.result(of: SynchronizeEntries.waitOnce), "every waiter returned as notified")
            _ = try await child.join()
        }
    }

    @Test func aWaitThatTimesOutAnswersFalse() async throws {
        let condition = try Condition()
        let notified = try await SyncTest.onThread {
            try condition.withLock { try condition.wait(timeout: .milliseconds(50)) }
        }.value
        #expect(!notified)
        #expect(condition.sleepers == 0)
    }

    /// The older waiter is killed while it waits: `notify(1)` goes to the living one.
    @Test func aWaiterKilledWhileWaitingDoesNotSwallowANotify() async throws {
        let condition = try Condition(lock: try Lock())
        let woken = try Counter(0, lock: .none)
        let children = try await startWaiters(2, on: condition, woken: woken)
        children[0].kill()
        _ = try await children[0].join()

        try await condition.withLock { try condition.notify(1) }
        try await waitUntil { try SyncTest.read(woken) == 1 }
        #expect(try await children[1].result(of: SynchronizeEntries.waitOnce, timeout: .seconds(60)))
        _ = try await children[1].join()
    }
}
