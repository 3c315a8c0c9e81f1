import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// The async forms: they wait on threads of their own, so more waiters than the cooperative
/// pool has threads leave every other task running, and a cancelled task stops waiting.
@Suite(.serialized) struct SynchronizeAsyncTests {
    typealias Counter = SyncTest.Counter
    init() { TestWorker.use() }

    /// Forty-eight waiters on a machine whose pool has a thread per core: if a wait blocked a
    /// pool thread, the task that sets the event would never run (the time limit ends a hang).
    @Test(.timeLimit(.minutes(1)))
    func moreAsyncWaitersThanPoolThreadsDoNotStarveOtherTasks() async throws {
        let event = try Event()
        let semaphore = try Multiprocessing.Semaphore(0)
        let condition = try Condition()
        let flag = try Counter(0, lock: .none)
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<48 {
                group.addTask {
                    switch index % 3 {
                    case 0: return try await event.wait()
                    case 1: return try await semaphore.acquire()
                    default: return try await condition.withLock(when: { try SyncTest.read(flag) == 1 }) { true }
                    }
                }
            }
            // Every waiter sleeps in its wait; ordinary tasks still run (each hops through the pool).
            try await SyncTest.eventually("48 waiters sleep") {
                event.sleepers == 16 && semaphore.sleepers == 16 && condition.sleepers == 16
            }
            let sum = try await withThrowingTaskGroup(of: Int.self) { inner in
                for value in 1...100 { inner.addTask { await Task.yield(); return value } }
                return try await inner.reduce(0, +)
            }
            #expect(sum == 5_050)
            event.set()
            try semaphore.release(16)
            try await condition.withLock {
                try SyncTest.write(flag, 1)
                try condition.notifyAll()
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 48)
        #expect(results.allSatisfy { $0 })
        #expect(semaphore.value == 0)
    }

    /// Cancelled before or while it waits, each async form throws `CancellationError` and leaves
    /// the primitive as it was (a barrier excepted: a party that leaves breaks it).
    @Test func cancellationEndsEveryAsyncWait() async throws {
        let event = try Event()
        #expect(await Self.cancelled { try await event.wait() })
        #expect(!event.isSet)

        let semaphore = try Multiprocessing.Semaphore(0)
        #expect(await Self.cancelled { try await semaphore.acquire() })
        try semaphore.release()
        #expect(try Self.acquire(semaphore))   // the cancelled waiter took nothing
        let bounded = try BoundedSemaphore(1)
        #expect(try await bounded.acquire())
        #expect(await Self.cancelled { try await bounded.acquire(timeout: .seconds(60)) })

        let condition = try Condition(lock: try Lock())
        #expect(await Self.cancelled { try await condition.withLock(when: { false }) {} })
        try await condition.withLock(timeout: .seconds(60)) {}   // the cancelled waiter gave the lock back

        let barrier = try Barrier(parties: 2)
        #expect(await Self.cancelled { try await barrier.wait() })
        #expect(barrier.isBroken)

        // A lock held by another thread: the async withLock gives up its wait.
        let lock = try Lock()
        let holding = try Event(), done = try Event()
        let holder = SyncTest.onThread { try SynchronizeLockTests.hold(lock, until: done, announcing: holding) }
        #expect(try await holding.wait(timeout: .seconds(60)))
        #expect(await Self.cancelled { try await lock.withLock { Issue.record("the body ran") } })
        done.set()
        try await holder.value
        #expect(try await lock.withLock(timeout: .seconds(60)) { true })
    }

    static func acquire(_ semaphore: Multiprocessing.Semaphore) throws -> Bool { try semaphore.acquire(timeout: .zero) }

    /// Starts `wait` in a task, lets it start waiting, cancels it; whether it threw
    /// `CancellationError`.
    static func cancelled<R: Sendable>(_ wait: @escaping @Sendable () async throws -> R) async -> Bool {
        let task = Task { try await wait() }
        try? await Task.sleep(for: .milliseconds(20))   // usually inside the wait by now; either way it must end
        task.cancel()
        do {
            _ = try await task.value
            Issue.record("the wait returned")
            return false
        } catch is CancellationError {
            return true
        } catch {
            Issue.record("not a CancellationError: \(error)")
            return false
        }
    }

    @Test func anAsyncLockKeepsTheCounterExactAgainstAnotherProcess() async throws {
        let lock = try Lock()
        let counter = try Counter(0, lock: .none)
        let child = try await ChildProcess.start(SynchronizeEntries.increment, .init(lock: lock, counter: counter, times: 3_000))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    for _ in 0..<1_000 {
                        try await lock.withLock {
                            try counter.withUnsafeMutablePointer { pointer in
                                let seen = pointer.pointee
                                sched_yield()
                                pointer.pointee = seen + 1
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await child.result(of: SynchronizeEntries.increment) == 3_000)
        _ = try await child.join()
        #expect(try SyncTest.read(counter) == 6_000)
    }
}
