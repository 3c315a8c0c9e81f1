import Foundation
import MPTestEntries
import MessagePack
import Testing
@testable import Multiprocessing

/// The manager-hosted locks, semaphores, conditions, events, barriers, values and queues,
/// used by real child processes through the supervisor's manager (the children get their
/// proxies in their spawn argument; a holder is killed with SIGKILL where death matters).
@Suite(.serialized) struct ManagerSyncTests {
    init() { TestWorker.use() }

    /// The `ManagerError` `body` throws, or nil (recorded as an issue) when none is thrown.
    static func error<R>(_ body: () async throws -> R, sourceLocation: SourceLocation = #_sourceLocation) async -> ManagerError? {
        do {
            _ = try await body()
            Issue.record("no error was thrown", sourceLocation: sourceLocation)
        } catch let error as ManagerError {
            return error
        } catch {
            Issue.record("not a ManagerError: \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test func aLockKeepsTwoProcessesIncrementsExact() async throws {
        let manager = try Manager()
        let lock = try await manager.lock()
        let total = try await manager.value(0)
        let job = ManagerSyncEntries.LockedIncrements(lock: lock, total: total, times: 200)
        let first = try await ChildProcess.start(ManagerSyncEntries.lockedIncrements, job)
        let second = try await ChildProcess.start(ManagerSyncEntries.lockedIncrements, job)
        #expect(try await first.result(of: ManagerSyncEntries.lockedIncrements) == 200)
        #expect(try await second.result(of: ManagerSyncEntries.lockedIncrements) == 200)
        #expect(try await total.get() == 400)
        #expect(try await lock.isLocked == false)
        _ = try await first.join()
        _ = try await second.join()
    }

    @Test func aLockWhoseHolderIsKilledIsReleasedAndTheNextHolderIsTold() async throws {
        let manager = try Manager()
        let lock = try await manager.lock()
        let state = try await manager.value(0)
        let holding = try await manager.event()
        let holder = try await ChildProcess.start(ManagerSyncEntries.holdLock,
                                                  ManagerSyncEntries.HoldLock(lock: lock, state: state, holding: holding))
        #expect(try await holding.wait(timeout: .seconds(60)))
        #expect(try await lock.acquire(timeout: .zero) == false)
        holder.kill()
        #expect(try await holder.join() == .signaled(.kill))

        // Told, not holding it, until a caller repairs the state.
        let told = await Self.error { try await lock.withLock(timeout: .seconds(60)) { 1 } }
        #expect(told?.code == .ownerDied)
        #expect(try await lock.ownerDied)
        #expect(try await state.get() == -1)
        _ = try await lock.withLock(timeout: .seconds(60), recovering: { try await state.set(0) }) {
            try await state.add(1)
        }
        #expect(try await lock.ownerDied == false)
        #expect(try await lock.withLock { try await state.get() } == 1)
    }

    @Test func aSemaphoreCountsUnitsAcrossProcesses() async throws {
        let manager = try Manager()
        let slots = try await manager.semaphore(value: 2)
        #expect(try await slots.acquire())
        #expect(try await slots.acquire())
        #expect(try await slots.acquire(timeout: .zero) == false)
        let waiter = try await ChildProcess.start(ManagerSyncEntries.acquireUnit, slots)
        try await slots.release()
        #expect(try await waiter.result(of: ManagerSyncEntries.acquireUnit))
        #expect(try await slots.value == 0)
        try await slots.release(2)
        #expect(try await slots.value == 2)
        _ = try await waiter.join()
    }

    @Test func aBoundedSemaphoreRefusesAReleaseAboveItsValue() async throws {
        let manager = try Manager()
        let bounded = try await manager.boundedSemaphore(value: 1)
        #expect(await Self.error { try await bounded.release() }?.code == .invalidArgument)
        #expect(try await bounded.acquire())
        try await bounded.release()
        #expect(try await bounded.value == 1)
        #expect(await Self.error { try await manager.semaphore(value: -1) }?.code == .invalidArgument)
    }

    @Test func conditionConsumersTakeWhatAProducerNotifies() async throws {
        let manager = try Manager()
        let condition = try await manager.condition()
        let tokens = try await manager.value(0)
        let waiting = try await manager.value(0)
        let job = ManagerSyncEntries.Consume(condition: condition, tokens: tokens, waiting: waiting)
        let consumers = [try await ChildProcess.start(ManagerSyncEntries.consume, job),
                         try await ChildProcess.start(ManagerSyncEntries.consume, job)]
        for _ in 0..<2 {
            try await condition.withLock {
                try await tokens.add(1)
                try await condition.notify()
            }
        }
        for consumer in consumers {
            #expect(try await consumer.result(of: ManagerSyncEntries.consume))
            _ = try await consumer.join()
        }
        #expect(try await tokens.get() == 0)
        #expect(try await waiting.get() == 2)
        // Only the holder waits or notifies.
        #expect(await Self.error { try await condition.notify() }?.code == .notOwner)
        #expect(await Self.error { try await condition.wait(timeout: .zero) }?.code == .notOwner)
    }

    @Test func anEventSetInOneProcessWakesAnother() async throws {
        let manager = try Manager()
        let event = try await manager.event()
        #expect(try await event.wait(timeout: .zero) == false)
        let waiter = try await ChildProcess.start(ManagerSyncEntries.waitEvent, event)
        try await event.set()
        #expect(try await waiter.result(of: ManagerSyncEntries.waitEvent))
        #expect(try await event.isSet)
        try await event.clear()
        #expect(try await event.isSet == false)
        _ = try await waiter.join()
    }

    @Test func aBarrierOfThreeProcessesReleasesThemTogetherAndAbortBreaksIt() async throws {
        let manager = try Manager()
        let barrier = try await manager.barrier(parties: 3)
        let parties = [try await ChildProcess.start(ManagerSyncEntries.barrierWait, barrier),
                       try await ChildProcess.start(ManagerSyncEntries.barrierWait, barrier)]
        let mine = try await barrier.wait(timeout: .seconds(60))
        var indices = [mine]
        for party in parties {
            let outcome = try await party.result(of: ManagerSyncEntries.barrierWait)
            indices.append(try #require(Int(outcome.dropFirst("index ".count)), "\(outcome)"))
            _ = try await party.join()
        }
        #expect(indices.sorted() == [0, 1, 2])

        let aborted = try await ChildProcess.start(ManagerSyncEntries.barrierWait, barrier)
        while try await barrier.waitingCount < 1 { try await Task.sleep(for: .milliseconds(2)) }
        try await barrier.abort()
        #expect(try await aborted.result(of: ManagerSyncEntries.barrierWait) == "brokenBarrier")
        #expect(await Self.error { try await barrier.wait() }?.code == .brokenBarrier)
        try await barrier.reset()
        #expect(try await barrier.isBroken == false)
        _ = try await aborted.join()
    }

    @Test func aBoundedQueueCarriesAProducersItemsInOrder() async throws {
        let manager = try Manager()
        let queue = try await manager.queue(Int.self, maxsize: 2)
        #expect(await Self.error { try await queue.getNowait() }?.code == .empty)
        #expect(await Self.error { try await queue.get(timeout: .milliseconds(20)) }?.code == .empty)
        let producer = try await ChildProcess.start(ManagerSyncEntries.produce, ManagerSyncEntries.Produce(queue: queue, count: 20))
        var got: [Int] = []
        for _ in 0..<20 {
            got.append(try await queue.get(timeout: .seconds(60)))
            try await queue.taskDone()
        }
        #expect(got == Array(0..<20))
        #expect(try await producer.result(of: ManagerSyncEntries.produce) == 20)
        try await queue.put(1)
        try await queue.put(2)
        #expect(try await queue.isFull)
        #expect(await Self.error { try await queue.putNowait(3) }?.code == .full)
        #expect(await Self.error { try await queue.put(3, timeout: .milliseconds(20)) }?.code == .full)
        #expect(try await queue.count == 2)
        _ = try await producer.join()
    }

    @Test func cancellingAWaitingAcquireCancelsItInTheManager() async throws {
        let manager = try Manager()
        let lock = try await manager.lock()
        #expect(try await lock.acquire())   // held by this process (no withLock scope)
        let waiter = Task { try await lock.withLock { 1 } }   // a scope of its own: waits
        // Time for the request to reach the manager; cancelled before, it is answered the same.
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        let error = await Self.error { try await waiter.value }
        #expect(error?.code == .cancelled)
        try await lock.release()
        #expect(try await lock.isLocked == false)   // the cancelled waiter was not handed the lock

        // A holder cancelled inside its body still releases.
        let holding = try await manager.event()
        let holder = Task {
            try await lock.withLock {
                try await holding.set()
                try await Task.sleep(for: .seconds(600))
            }
        }
        #expect(try await holding.wait(timeout: .seconds(60)))
        holder.cancel()
        await #expect(throws: CancellationError.self) { try await holder.value }
        #expect(try await lock.isLocked == false)
    }

    @Test func aKilledWaiterDoesNotSwallowAnItem() async throws {
        let manager = try Manager()
        let queue = try await manager.queue(Int.self)
        let waiter = try await ChildProcess.start(ManagerSyncEntries.getOne, queue)
        let service = try Runtime.current.managerService
        let object = queue.reference.object
        // Until the child's get waits in the manager (looked at on the manager's loop).
        while try await withCheckedThrowingContinuation({ (continuation: CheckedContinuation<Int, any Error>) in
            service.withObjects { continuation.resume(returning: ($0.object(object)?.object as? ManagedQueue)?.waitingGets ?? 0) }
        }) < 1 {
            try await Task.sleep(for: .milliseconds(2))
        }
        waiter.kill()
        #expect(try await waiter.join() == .signaled(.kill))
        try await queue.put(42)
        #expect(try await queue.get(timeout: .seconds(60)) == 42)
    }

    @Test func wrongTypesAreErrorsNamingThem() async throws {
        let manager = try Manager()
        let number = try await manager.value(5)
        let asText = ManagerValue<String>(reference: number.reference)
        let refused = await Self.error { try await asText.set("five") }
        #expect(refused?.code == .wrongType)
        let misread = await Self.error { try await asText.get() }
        #expect(misread?.code == .wrongType)
        let array = try await manager.array([1, 2, 3])
        #expect(await Self.error { try await array[3] }?.code == .indexOutOfRange)
        #expect(try await array.add(at: 2, 4) == 7)
        #expect(try await array.snapshot() == [1, 2, 7])
        let lock = try await manager.lock()
        let raw = await Self.error { try await lock.reference.client.call(lock.reference.object, "acquire", [MessagePackValue.string("me").bytes]) }
        #expect(raw?.code == .wrongType)
        let event = try await manager.event()
        let overEvent = await Self.error {
            try await manager.client.create(ManagerCondition.typeID, name: nil, arguments: [MessagePackValue.uint(event.reference.object).bytes])
        }
        #expect(overEvent?.code == .wrongType)
    }
}
