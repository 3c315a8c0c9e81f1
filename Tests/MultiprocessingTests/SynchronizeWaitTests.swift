import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// `Multiprocessing.Semaphore`, `BoundedSemaphore`, `Event` and `Condition`: futex words in the arena,
/// waited on by real processes.
@Suite(.serialized) struct SynchronizeWaitTests {
    typealias Counter = SyncTest.Counter
    init() { TestWorker.use() }

    // MARK: - Semaphores

    @Test func semaphoresRefuseBadCountsAndTimeouts() throws {
        #expect(SyncTest.error { try Multiprocessing.Semaphore(-1) }?.code == .invalidArgument)
        #expect(SyncTest.error { try BoundedSemaphore(-5) }?.code == .invalidArgument)
        #expect(SyncTest.error { try Multiprocessing.Semaphore(Int(Int32.max) + 1) }?.code == .invalidArgument)
        let semaphore = try Multiprocessing.Semaphore(0)
        #expect(SyncTest.error { try semaphore.release(0) }?.code == .invalidArgument)
        #expect(SyncTest.error { try semaphore.release(-2) }?.code == .invalidArgument)
        #expect(try semaphore.acquire(timeout: .seconds(-1)) == false)   // Python: negative is zero, one try
        try semaphore.release()
        #expect(try semaphore.acquire(timeout: .seconds(-1)))
        let full = try Multiprocessing.Semaphore(Int(Int32.max))
        #expect(SyncTest.error { try full.release() }?.code == .invalidArgument)
        #expect(full.value == Int(Int32.max))
        #expect(semaphore.value == 0)
    }

    @Test func aSemaphoreCountsAndAnswersFalseWhenItTimesOut() throws {
        let semaphore = try Multiprocessing.Semaphore(2)
        #expect(try semaphore.acquire())
        #expect(try semaphore.acquire(timeout: .zero))
        #expect(try semaphore.acquire(timeout: .zero) == false)
        #expect(try semaphore.acquire(timeout: .milliseconds(20)) == false)
        try semaphore.release(3)
        #expect(semaphore.value == 3)   // an unbounded semaphore may grow past its start
    }

    @Test func aBoundedSemaphoreRefusesToBeReleasedMoreThanAcquired() throws {
        let semaphore = try BoundedSemaphore(2)
        #expect(SyncTest.error { try semaphore.release() }?.code == .overReleased)
        #expect(try semaphore.acquire(timeout: .zero))
        #expect(try semaphore.acquire(timeout: .zero))
        #expect(SyncTest.error { try semaphore.release(3) }?.code == .overReleased)
        #expect(semaphore.value == 0)   // a refused release releases nothing
        try semaphore.release(2)
        #expect(SyncTest.error { try semaphore.release() }?.code == .overReleased)
        #expect(semaphore.value == 2)
    }

    @Test(arguments: [false, true])
    func aSemaphoreLetsAtMostItsValueOfProcessesIn(bounded: Bool) async throws {
        let lock = try Lock()
        let inside = try Counter(0, lock: .none), most = try Counter(0, lock: .none)
        let semaphore = try Multiprocessing.Semaphore(2), boundedSemaphore = try BoundedSemaphore(2)
        let job = SynchronizeEntries.SemaphoreUser(semaphore: bounded ? nil : semaphore, bounded: bounded ? boundedSemaphore : nil,
                                                   lock: lock, inside: inside, most: most, times: 300)
        var children: [ChildProcess] = []
        for _ in 0..<4 { children.append(try await ChildProcess.start(SynchronizeEntries.useSemaphore, job)) }
        for child in children {
            #expect(try await child.result(of: SynchronizeEntries.useSemaphore) == 300)
            _ = try await child.join()
        }
        #expect((1...2).contains(try SyncTest.read(most)))
        #expect(try SyncTest.read(inside) == 0)
        #expect((bounded ? boundedSemaphore.value : semaphore.value) == 2)
    }

    /// A releaser killed between its add and its wake (simulated: the count raised without a
    /// wake) does not leave a waiter without a timeout asleep for good: sleepers look again.
    @Test func aWaiterNotWokenAfterAReleaseStillSeesIt() async throws {
        let semaphore = try Multiprocessing.Semaphore(0)
        let waiter = SyncTest.onThread { try semaphore.acquire() }
        try await SyncTest.eventually("the waiter sleeps") { semaphore.sleepers == 1 }
        semaphore.core.value.add(1)   // what a release does before it wakes anyone
        #expect(try await waiter.value)
        #expect(semaphore.value == 0)
    }

    // MARK: - Event

    @Test func anEventIsSetClearedAndWaitedFor() throws {
        let event = try Event()
        #expect(!event.isSet)
        #expect(try event.wait(timeout: .zero) == false)
        #expect(try event.wait(timeout: .milliseconds(20)) == false)
        event.set()
        #expect(event.isSet)
        #expect(try event.wait())
        #expect(try event.wait(timeout: .zero))
        event.clear()
        #expect(!event.isSet)
        #expect(try event.wait(timeout: .seconds(-1)) == false)   // Python: negative is zero, one look
        event.set()
        #expect(try event.wait(timeout: .seconds(-1)))
    }

    @Test func anEventSetHereWakesWaitersInOtherProcesses() async throws {
        let event = try Event()
        let replies = [try Event(), try Event()]
        let blocking = try await ChildProcess.start(SynchronizeEntries.awaitEvent, .init(event: event, reply: replies[0]))
        let async = try await ChildProcess.start(SynchronizeEntries.awaitEvent, .init(event: event, reply: replies[1], useAsync: true))
        let timing = try await ChildProcess.start(SynchronizeEntries.awaitEvent,
                                                  .init(event: try Event(), reply: try Event(), timeoutMilliseconds: 20))
        #expect(try await timing.result(of: SynchronizeEntries.awaitEvent) == false)
        #expect(!replies[0].isSet && !replies[1].isSet)   // still waiting: nobody set the event
        event.set()
        #expect(try await blocking.result(of: SynchronizeEntries.awaitEvent))
        #expect(try await async.result(of: SynchronizeEntries.awaitEvent))
        for reply in replies { #expect(try await reply.wait(timeout: .seconds(60))) }
        for child in [blocking, async, timing] { _ = try await child.join() }
    }

    @Test func anEventSetInAnotherProcessWakesThisOne() async throws {
        let event = try Event()
        let child = try await ChildProcess.start(SynchronizeEntries.receiveEvent, 0)
        let waiting = Task { try await event.wait(timeout: .seconds(60)) }
        // The handle travels inside a request, not at spawn.
        #expect(try await child.request(event, as: Bool.self))
        #expect(try await waiting.value)
        #expect(try await child.result(of: SynchronizeEntries.receiveEvent) == 1)
        _ = try await child.join()
    }

    // MARK: - Condition

    @Test func aConditionRefusesWaitAndNotifyWithoutItsLock() throws {
        let condition = try Condition(lock: try Lock())
        #expect(SyncTest.error { try condition.wait(timeout: .zero) }?.code == .notOwner)
        #expect(SyncTest.error { try condition.notify() }?.code == .notOwner)
        #expect(SyncTest.error { try condition.notifyAll() }?.code == .notOwner)
        try condition.withLock {
            #expect(SyncTest.error { try condition.notify(-1) }?.code == .invalidArgument)
            #expect(try condition.wait(timeout: .seconds(-1)) == false)   // Python: negative is zero
            #expect(try condition.wait(for: { false }, timeout: .seconds(-1)) == false)
            #expect(try condition.wait(for: { true }, timeout: .seconds(-1)))
            #expect(try condition.wait(timeout: .milliseconds(10)) == false)
            #expect(try condition.wait(for: { false }, timeout: .milliseconds(10)) == false)
            #expect(try condition.wait(for: { true }, timeout: .zero))
            try condition.notify()
            try condition.notifyAll()
        }
    }

    /// Three consumer processes wait on the condition; one token and `notify(1)` lets exactly
    /// one through, two tokens and `notifyAll` the other two.
    @Test(arguments: [false, true])
    func notifyAndNotifyAllWakeWaitersInOtherProcesses(reentrant: Bool) async throws {
        let condition = reentrant ? try Condition() : try Condition(lock: try Lock())
        let arrived = try Counter(0, lock: .none), tokens = try Counter(0, lock: .none), done = try Counter(0, lock: .none)
        let job = SynchronizeEntries.TokenConsumer(condition: condition, arrived: arrived, tokens: tokens, done: done)
        var children: [ChildProcess] = []
        for _ in 0..<3 { children.append(try await ChildProcess.start(SynchronizeEntries.consumeToken, job)) }

        try await condition.withLock(when: { try SyncTest.read(arrived) == 3 }, timeout: .seconds(60)) {}
        try await condition.withLock {
            try SyncTest.write(tokens, 1)
            try condition.notify(1)
        }
        try await condition.withLock(when: { try SyncTest.read(done) == 1 }, timeout: .seconds(60)) {
            #expect(try SyncTest.read(tokens) == 0)
            try SyncTest.write(tokens, 2)
            try condition.notifyAll()
        }
        try await condition.withLock(when: { try SyncTest.read(done) == 3 }, timeout: .seconds(60)) {}
        for child in children {
            #expect(try await child.result(of: SynchronizeEntries.consumeToken))
            _ = try await child.join()
        }
        #expect(try SyncTest.read(tokens) == 0)
    }

    /// A process killed holding the lock while a thread waits on the condition: the waiter's
    /// reacquisition finds the lock's owner dead and throws `ownerDied`, holding the lock again
    /// (its `withLock` releases it); the mark stays for the next acquirer.
    @Test func aWaiterWhoseLockHolderWasKilledIsToldWhenItTakesTheLockBack() async throws {
        let lock = try Lock()
        let condition = try Condition(lock: lock)
        let inside = try Event()
        let waiter = SyncTest.onThread { () -> String in
            do {
                try condition.withLock {
                    inside.set()
                    // Each wait lets the lock go for a moment: the child takes it during one.
                    while true { _ = try condition.wait(timeout: .milliseconds(5)) }
                }
            } catch let error as SynchronizationError {
                return error.code.name + (lock.isHeldByCurrentThread ? " (still held)" : "")
            }
            return "the wait loop ended without an error"
        }
        #expect(try await inside.wait(timeout: .seconds(60)))   // so the error can only come from a wait
        let holding = try Event()
        try await SyncTest.kill(try await SyncTest.startHolder(.init(lock: lock, state: try Counter(0, lock: .none), holding: holding)))
        #expect(try await waiter.value == "ownerDied")
        #expect(lock.ownerDied)
        #expect(try await lock.withLock(recovering: {}) { true })
        #expect(!lock.ownerDied)
    }

    /// A wait inside two levels of an RLock releases both (another thread gets the lock) and
    /// restores both.
    @Test func aConditionWaitReleasesEveryLevelOfAnRLock() async throws {
        let lock = try RLock()
        let condition = try Condition(lock: lock)
        let flag = try Counter(0, lock: .none), waiting = try Counter(0, lock: .none)
        let waiter = SyncTest.onThread { () -> [Bool] in
            try condition.withLock {
                try condition.withLock {
                    try SyncTest.write(waiting, 1)
                    try condition.notifyAll()
                    let woke = try condition.wait(for: { try SyncTest.read(flag) == 1 }, timeout: .seconds(60))
                    return [woke, lock.isHeldByCurrentThread]
                } + [lock.isHeldByCurrentThread]
            } + [lock.isHeldByCurrentThread]
        }
        // This thread gets the lock only while the waiter, two levels deep, waits.
        try await condition.withLock(when: { try SyncTest.read(waiting) == 1 }, timeout: .seconds(60)) {
            try SyncTest.write(flag, 1)
            try condition.notifyAll()
        }
        #expect(try await waiter.value == [true, true, true, false])
    }
}
