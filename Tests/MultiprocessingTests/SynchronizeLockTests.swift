import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Helpers of the Synchronize suites.
enum SyncTest {
    typealias Counter = SynchronizeEntries.Counter

    /// Starts a child that takes the job's lock and waits holding it; returns once it holds it.
    static func startHolder(_ job: SynchronizeEntries.HoldAndWait,
                            sourceLocation: SourceLocation = #_sourceLocation) async throws -> ChildProcess {
        let holder = try await ChildProcess.start(SynchronizeEntries.holdAndWait, job)
        #expect(try await job.holding.wait(timeout: .seconds(60)), sourceLocation: sourceLocation)
        return holder
    }

    /// Kills `holder` (SIGKILL, holding its lock) and reaps it.
    static func kill(_ holder: ChildProcess, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        holder.kill()
        #expect(try await holder.join() == .signaled(.kill), sourceLocation: sourceLocation)
    }

    /// Runs blocking work on a thread of its own, never on the cooperative pool.
    static func onThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) -> Task<R, any Error> {
        Task {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
            }
        }
    }

    /// The `SynchronizationError` thrown by `body`, or nil (recorded as an issue) when none was.
    static func error<R>(_ body: () throws -> R, sourceLocation: SourceLocation = #_sourceLocation) -> SynchronizationError? {
        do {
            _ = try body()
            Issue.record("no error was thrown", sourceLocation: sourceLocation)
        } catch let error as SynchronizationError {
            return error
        } catch {
            Issue.record("not a SynchronizationError: \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    static func error<R>(_ body: () async throws -> R, sourceLocation: SourceLocation = #_sourceLocation) async -> SynchronizationError? {
        do {
            _ = try await body()
            Issue.record("no error was thrown", sourceLocation: sourceLocation)
        } catch let error as SynchronizationError {
            return error
        } catch {
            Issue.record("not a SynchronizationError: \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    static func read(_ counter: Counter) throws -> Int { try counter.withUnsafeMutablePointer { $0.pointee } }
    static func write(_ counter: Counter, _ value: Int) throws { try counter.withUnsafeMutablePointer { $0.pointee = value } }

    /// Waits (polling, at most 60 s) until `condition` holds: for "the child got there" only,
    /// never to measure time.
    static func eventually(_ what: String, _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw SynchronizationError(.timedOut, "never happened: \(what)") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The blocking forms, reached from synchronous code (an async caller gets the async ones).
    static func withLock<R>(_ lock: Lock, timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        try lock.withLock(timeout: timeout, body)
    }
    static func withLock<R>(_ lock: RLock, timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        try lock.withLock(timeout: timeout, body)
    }
}

/// `Lock` and `RLock`: robust process-shared mutexes in the arena, exercised by real processes
/// (MPTestWorker's `sync.*` entries) that contend for them, release what they do not hold, and
/// are killed while holding them.
@Suite(.serialized) struct SynchronizeLockTests {
    typealias Counter = SyncTest.Counter
    init() { TestWorker.use() }

    @Test func aLockKeepsACounterExactUnderContentionFromThreeProcesses() async throws {
        let lock = try Lock()
        let counter = try Counter(0, lock: .none)
        var children: [ChildProcess] = []
        for _ in 0..<3 {
            children.append(try await ChildProcess.start(SynchronizeEntries.increment,
                                                         .init(lock: lock, counter: counter, times: 2_000)))
        }
        // This process takes part with the blocking form on a thread and the async form on the task.
        let blocking = SyncTest.onThread {
            for _ in 0..<1_000 {
                try SyncTest.withLock(lock) {
                    try counter.withUnsafeMutablePointer { pointer in
                        let seen = pointer.pointee
                        sched_yield()
                        pointer.pointee = seen + 1
                    }
                }
            }
        }
        for _ in 0..<1_000 {
            try await lock.withLock { try counter.withUnsafeMutablePointer { $0.pointee += 1 } }
        }
        try await blocking.value
        for child in children {
            #expect(try await child.result(of: SynchronizeEntries.increment) == 2_000)
            #expect(try await child.join() == .exited(0))
        }
        #expect(try SyncTest.read(counter) == 8_000)
        #expect(!lock.ownerDied)
    }

    @Test func aLockWhoseHolderWasKilledTellsTheNextAcquirerUntilSomeoneRecovers() async throws {
        let lock = try Lock()
        let state = try Counter(10, lock: .none)
        let holding = try Event()
        try await SyncTest.kill(try await SyncTest.startHolder(.init(lock: lock, state: state, holding: holding)))

        // Every acquirer is told, and nothing runs, until one brings a repair.
        let first = SyncTest.error { try SyncTest.withLock(lock) { Issue.record("the body ran") } }
        #expect(first?.code == .ownerDied)
        #expect(lock.ownerDied)
        let again = await SyncTest.error { try await lock.withLock { Issue.record("the body ran") } }
        #expect(again?.code == .ownerDied)
        #expect(try SyncTest.read(state) == -1)

        try Self.repair(lock, state)
        let child = try await ChildProcess.start(SynchronizeEntries.increment, .init(lock: lock, counter: state, times: 5))
        #expect(try await child.result(of: SynchronizeEntries.increment) == 5)
        _ = try await child.join()
        #expect(try SyncTest.read(state) == 16)
    }

    /// A repair that fails leaves the mark; one that succeeds clears it, once.
    static func repair(_ lock: Lock, _ state: Counter) throws {
        struct RepairFailed: Error {}
        #expect(throws: RepairFailed.self) {
            try lock.withLock(recovering: { throw RepairFailed() }) { Issue.record("the body ran") }
        }
        #expect(lock.ownerDied)

        var repaired = 0
        let total = try lock.withLock(recovering: {
            repaired += 1
            try SyncTest.write(state, 10)
        }) {
            try state.withUnsafeMutablePointer { $0.pointee += 1; return $0.pointee }
        }
        #expect(repaired == 1)
        #expect(total == 11)
        #expect(!lock.ownerDied)
        // Recovered: the repair does not run again.
        try lock.withLock(recovering: { repaired += 1 }) {}
        #expect(repaired == 1)
    }

    @Test func anRLockWhoseHolderWasKilledAtDepthTwoIsRecoveredByTheNextAcquirer() async throws {
        let lock = try RLock()
        let state = try Counter(0, lock: .none)
        let holding = try Event()
        try await SyncTest.kill(try await SyncTest.startHolder(.init(rlock: lock, state: state, holding: holding)))

        #expect(SyncTest.error { try SyncTest.withLock(lock) {} }?.code == .ownerDied)
        // The async form, from a task: recovered, then reentered on its thread.
        let depth = try await lock.withLock(recovering: { try SyncTest.write(state, 0) }) {
            try lock.withLock { try lock.withLock { lock.isHeldByCurrentThread ? 2 : 0 } }
        }
        #expect(depth == 2)
        #expect(!lock.ownerDied)
        #expect(!lock.isHeldByCurrentThread)
        // The dead holder's depth did not carry over: one release frees it for another thread.
        try await SyncTest.onThread { try SyncTest.withLock(lock, timeout: .seconds(60)) {} }.value
    }

    @Test func anRLockIsReentrantAndOnlyItsHolderMayReleaseIt() async throws {
        let lock = try RLock()
        try Self.acquireThreeTimesThenReleaseOnceTooOften(lock)
        try Self.withTwoLevels(lock)
        // Held on one thread: another thread may neither release nor take it.
        let holding = try Event(), done = try Event()
        let holder = SyncTest.onThread {
            try Self.hold(lock, until: done, announcing: holding)
        }
        #expect(try await holding.wait(timeout: .seconds(60)))
        let other = try await SyncTest.onThread { () -> [String] in
            [SyncTest.error { try Self.release(lock) }?.code.name ?? "-", try Self.acquire(lock, timeout: .milliseconds(20)) ? "acquired" : "busy"]
        }.value
        #expect(other == ["notOwner", "busy"])
        // Nor may another process.
        let plainLock = try Lock()
        let child = try await ChildProcess.start(SynchronizeEntries.releaseForeign, .init(lock: plainLock, rlock: lock))
        #expect(try await child.result(of: SynchronizeEntries.releaseForeign) == ["notOwner", "notOwner"])
        _ = try await child.join()
        done.set()
        try await holder.value
    }

    static func withTwoLevels(_ lock: RLock) throws {
        let depth = try lock.withLock { try lock.withLock { lock.isHeldByCurrentThread ? 2 : 0 } }
        #expect(depth == 2)
        #expect(!lock.isHeldByCurrentThread)
    }

    static func acquireThreeTimesThenReleaseOnceTooOften(_ lock: RLock) throws {
        #expect(try lock.acquire())
        #expect(try lock.acquire(timeout: .zero))
        #expect(try lock.acquire(timeout: .seconds(1)))
        #expect(lock.isHeldByCurrentThread)
        try lock.release()
        try lock.release()
        #expect(lock.isHeldByCurrentThread)
        try lock.release()
        #expect(!lock.isHeldByCurrentThread)
        #expect(SyncTest.error { try lock.release() }?.code == .notOwner)
    }

    /// Holds `lock` two levels deep: a release by anyone else must leave the depth alone.
    static func hold(_ lock: RLock, until done: Event, announcing holding: Event) throws {
        try lock.withLock {
            try lock.withLock {
                holding.set()
                _ = try done.wait(timeout: .seconds(60))
            }
            #expect(lock.isHeldByCurrentThread)   // one level left after the inner release
        }
    }
    static func hold(_ lock: Lock, until done: Event, announcing holding: Event) throws {
        try lock.withLock {
            holding.set()
            _ = try done.wait(timeout: .seconds(60))
        }
    }
    static func release(_ lock: RLock) throws { try lock.release() }
    static func acquire(_ lock: RLock, timeout: Duration?) throws -> Bool { try lock.acquire(timeout: timeout) }
    static func release(_ lock: Lock) throws { try lock.release() }
    static func acquire(_ lock: Lock, timeout: Duration?) throws -> Bool { try lock.acquire(timeout: timeout) }

    @Test func aLockRefusesItsHolderAgainAndAReleaseByAnyoneElse() throws {
        let lock = try Lock()
        #expect(SyncTest.error { try lock.release() }?.code == .notOwner)
        try lock.withLock { () throws in
            #expect(lock.isHeldByCurrentThread)
            // Without a timeout Python would hang forever: refused instead.
            #expect(SyncTest.error { try lock.withLock {} }?.code == .wouldDeadlock)
            #expect(SyncTest.error { try Self.acquire(lock, timeout: nil) }?.code == .wouldDeadlock)
            // With one, Python answers False: so does the holder's try here, still holding it.
            #expect(try Self.acquire(lock, timeout: .zero) == false)
            #expect(try Self.acquire(lock, timeout: .seconds(-1)) == false)
            #expect(try Self.acquire(lock, timeout: .seconds(60)) == false)
            #expect(SyncTest.error { try SyncTest.withLock(lock, timeout: .zero) {} }?.code == .timedOut)
            #expect(lock.isHeldByCurrentThread)
        }
        #expect(!lock.isHeldByCurrentThread)
        #expect(try lock.acquire(timeout: .zero))
        try lock.release()
        #expect(SyncTest.error { try lock.release() }?.code == .notOwner)
    }

    /// Python: a negative timeout means zero, one try, never an error.
    @Test func aNegativeTimeoutIsOneTry() async throws {
        let lock = try Lock(), rlock = try RLock()
        #expect(try SyncTest.withLock(lock, timeout: .seconds(-1)) { 7 } == 7)
        #expect(try Self.acquire(lock, timeout: .milliseconds(-1)))
        try Self.release(lock)
        #expect(try Self.acquire(rlock, timeout: .nanoseconds(-1)))
        #expect(try Self.acquire(rlock, timeout: .nanoseconds(-1)))   // the holder, one level deeper
        try Self.release(rlock)
        try Self.release(rlock)
        #expect(try await lock.withLock(timeout: .seconds(-1)) { 1 } == 1)
        #expect(try await rlock.withLock(timeout: .seconds(-1)) { 2 } == 2)
        // Held by another process: one try, false at once.
        let holding = try Event()
        let holder = try await SyncTest.startHolder(.init(lock: lock, state: try SyncTest.Counter(0, lock: .none), holding: holding))
        #expect(try Self.acquire(lock, timeout: .seconds(-5)) == false)
        #expect(SyncTest.error { try SyncTest.withLock(lock, timeout: .seconds(-5)) {} }?.code == .timedOut)
        try await SyncTest.kill(holder)
    }

    @Test func aLockHeldByAnotherProcessTimesOut() async throws {
        let lock = try Lock()
        let state = try Counter(0, lock: .none)
        let holding = try Event()
        let holder = try await SyncTest.startHolder(.init(lock: lock, state: state, holding: holding))
        #expect(try Self.acquire(lock, timeout: .zero) == false)
        #expect(try Self.acquire(lock, timeout: .milliseconds(20)) == false)
        #expect(SyncTest.error { try SyncTest.withLock(lock, timeout: .milliseconds(20)) {} }?.code == .timedOut)
        #expect(await SyncTest.error { try await lock.withLock(timeout: .milliseconds(20)) {} }?.code == .timedOut)
        holder.kill()
        _ = try await holder.join()
    }

    @Test func aHandleDecodesOnlyAsTheKindItWasMadeFor() throws {
        let lock = try Lock()
        let bytes = try MessagePackEncoder().encode(lock)
        let same = try MessagePackDecoder().decode(Lock.self, from: bytes)
        try same.withLock { #expect(lock.isHeldByCurrentThread) }
        do {
            _ = try MessagePackDecoder().decode(RLock.self, from: bytes)
            Issue.record("a Lock's handle decoded as an RLock")
        } catch {
            let found = (error as? SynchronizationError) ?? ((error as? DecodingError).flatMap(Self.underlying))
            #expect(found?.code == .sharedMemoryUnavailable)
            if case .sharedMemory(let inner)? = found?.underlyingError { #expect(inner.code == .typeMismatch) } else { Issue.record("\(error)") }
        }
    }

    static func underlying(_ error: DecodingError) -> SynchronizationError? {
        switch error {
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
            return context.underlyingError as? SynchronizationError
        @unknown default: return nil
        }
    }

    @Test func aLockInTheCallersOwnMemoryWorksButCannotTravel() throws {
        let region = try MappedRegion(anonymousSize: MappedRegion.pageSize)
        let placement = SharedPlacement(pointer: region.baseAddress, handle: nil, owner: region)
        let lock = try Lock(initializing: placement)
        try lock.withLock { #expect(lock.isHeldByCurrentThread) }
        #expect(throws: EncodingError.self) { try MessagePackEncoder().encode(lock) }
    }
}
