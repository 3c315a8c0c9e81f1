/// A condition variable shared by every process of the tree (Python's
/// `multiprocessing.Condition`), over a ``Lock`` or an ``RLock`` (a new RLock by default, as
/// Python's).
///
/// Inside ``withLock(timeout:_:)``, ``wait(timeout:)`` releases the lock (every level of an
/// RLock), sleeps until a ``notify(_:)``/``notifyAll()`` or the timeout, and takes the lock
/// back before it returns. A lock belongs to a thread, so waiting happens inside a synchronous
/// region; from async code, ``withLock(when:timeout:_:)-(_,_,@Sendable()->R)`` does the whole
/// "lock, wait for the predicate, run the body, unlock" on a dedicated thread.
///
/// Layout: two futex words next to the lock's own state, `sequence` (bumped by every notify
/// that granted something; waiters sleep on it) and `waiters`, then the waiting list
/// (``ConditionTickets``): each waiter takes a ticket, `notify(n)` grants the `n` oldest
/// waiting tickets of living processes, and a waiter returns `true` only when its own ticket
/// was granted (as Python, which releases the `n` oldest waiters' locks). A wake-up that was
/// not for it (a notify for others, the look at `sequence` at least once a second, a spurious
/// futex return) sends it back to sleep; a timeout returns `false`. Why it survives a dead
/// process: a waiter holds nothing but its slot while it sleeps, and a notify skips (and
/// frees) the slots of processes that ended, so a dead waiter never swallows a notification
/// meant for a living one; a notifier or waiter that dies holding the lock is the lock's
/// business (the next one gets `ownerDied`); a notifier killed between granting and waking is
/// covered by the sleepers' look at their slot at least once a second. A notification granted
/// to a waiter that dies before it returns is lost, as one given to a waiter that ignores it:
/// wait for a predicate, with a timeout. At most 64 threads wait at
/// once, in all processes; one more throws ``SynchronizationError/Code/tooManyWaiters``.
///
/// ```swift
/// let items = try Condition()
/// // consumer
/// try items.withLock {
///     guard try items.wait(for: { queue.count > 0 }, timeout: .seconds(5)) else { return }
///     queue.removeFirst()
/// }
/// // producer, in another process
/// try items.withLock { queue.append(job); try items.notify() }
/// ```
public final class Condition: Sendable, Codable, CustomStringConvertible {
    enum Guard: Sendable {
        case lock(Lock)
        case rlock(RLock)

        var core: LockCore {
            switch self {
            case .lock(let lock): lock.core
            case .rlock(let lock): lock.core
            }
        }
        var isReentrant: Bool { if case .rlock = self { true } else { false } }
    }

    let placement: SharedPlacement
    let lockGuard: Guard
    static let name = "Condition"
    static let byteCount = ConditionTickets.byteCount
    private var sequence: FutexWord { FutexWord(placement.pointer) }
    private var waiters: FutexWord { FutexWord(placement.pointer + 4) }
    private var tickets: ConditionTickets { ConditionTickets(base: placement.pointer) }

    /// A condition in `arena` over a new ``RLock`` there (Python's default). Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` when it is full. (`Condition()`,
    /// in Runtime/, uses the default runtime's arena.)
    convenience init(in arena: Arena) throws(SynchronizationError) {
        try self.init(guard: .rlock(RLock(in: arena)), in: arena)
    }

    /// A condition over `lock`, in the lock's arena (`in arena` only for a lock placed outside
    /// any arena).
    convenience init(lock: Lock, in arena: Arena) throws(SynchronizationError) {
        try self.init(guard: .lock(lock), in: lock.placement.arena ?? arena)
    }

    /// A condition over the reentrant `lock`, in the lock's arena.
    convenience init(lock: RLock, in arena: Arena) throws(SynchronizationError) {
        try self.init(guard: .rlock(lock), in: lock.placement.arena ?? arena)
    }

    private convenience init(guard lockGuard: Guard, in arena: Arena) throws(SynchronizationError) {
        self.init(initializing: try SharedPlacement.allocate(byteCount: Self.byteCount, alignment: 4,
                                                             tag: SharedPlacement.Tag.condition, Self.name, in: arena),
                  guard: lockGuard)
    }

    init(initializing placement: SharedPlacement, guard lockGuard: Guard) {
        self.placement = placement
        self.lockGuard = lockGuard
        sequence.initialize(to: 0)
        waiters.initialize(to: 0)
        tickets.initialize()
    }

    init(attaching placement: SharedPlacement, guard lockGuard: Guard) {
        self.placement = placement
        self.lockGuard = lockGuard
    }

    /// The name in messages: "Condition (over a Lock)".
    private var what: String { lockGuard.isReentrant ? "Condition (over an RLock)" : "Condition (over a Lock)" }

    // MARK: the lock

    /// Takes the condition's lock, runs `body`, releases it (Python's `with condition:`);
    /// errors as ``Lock/withLock(timeout:_:)``.
    public func withLock<R>(timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        try lockGuard.core.withLock(timeout: timeout, recovering: nil, what, body)
    }

    /// ``withLock(timeout:_:)``, first repairing the protected state if a holder died (see
    /// ``Lock/withLock(timeout:recovering:_:)``).
    public func withLock<R>(timeout: Duration? = nil, recovering: () throws -> Void, _ body: () throws -> R) throws -> R {
        try withoutActuallyEscaping(recovering) { recovering in
            try lockGuard.core.withLock(timeout: timeout, recovering: recovering, what, body)
        }
    }

    /// The async form of ``withLock(timeout:_:)``: when the lock is busy, the wait, `body` and
    /// the release run on a dedicated thread (see ``Lock``'s). For a body that waits for a
    /// predicate, ``withLock(when:timeout:_:)-(_,_,@Sendable()->R)``.
    public func withLock<R: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await lockGuard.core.withLockAsync(keeping: self, timeout: timeout, recovering: nil, what, body)
    }

    // MARK: waiting (inside withLock)

    /// Releases the lock, sleeps until a notify is meant for this waiter or `timeout` passes
    /// (nil: as long as it takes), takes the lock back; returns true when notified, false when
    /// the timeout passed (Python's `wait`). Another waiter may still change the state between
    /// the notify and this return, so callers re-check their condition (or use
    /// ``wait(for:timeout:)``).
    ///
    /// Throws ``SynchronizationError/Code/notOwner`` when the calling thread does not hold the
    /// lock, ``SynchronizationError/Code/ownerDied`` (with the lock held again) when a process
    /// died holding the lock meanwhile, ``SynchronizationError/Code/tooManyWaiters`` when
    /// 64 threads wait already. A negative timeout is zero (Python's): one look, no sleep.
    @available(*, noasync, message: "a lock belongs to a thread; use withLock(when:) from async code")
    public func wait(timeout: Duration? = nil) throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, "\(what).wait")
        return try wait(until: deadline, cancellation: nil)
    }

    /// Waits until `predicate` (evaluated with the lock held) is true, at most `timeout` in
    /// all; returns the predicate's last answer (Python's `wait_for`). Errors as ``wait(timeout:)``.
    @available(*, noasync, message: "a lock belongs to a thread; use withLock(when:) from async code")
    public func wait(for predicate: () throws -> Bool, timeout: Duration? = nil) throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, "\(what).wait(for:)")
        return try wait(for: predicate, until: deadline, cancellation: nil)
    }

    /// Wakes the `count` threads that have waited longest on this condition, in any process
    /// (Python's `notify(n)`); the others sleep on. Throws ``SynchronizationError/Code/notOwner`` when the calling thread does
    /// not hold the lock, ``SynchronizationError/Code/invalidArgument`` for a count below 0.
    public func notify(_ count: Int = 1) throws(SynchronizationError) {
        guard count >= 0 else {
            throw SynchronizationError(.invalidArgument, "\(what).notify: the count \(count) is negative")
        }
        try wake(Int32(clamping: count), "\(what).notify")
    }

    /// Wakes every thread waiting on this condition, in any process (Python's `notify_all`).
    /// Throws ``SynchronizationError/Code/notOwner`` when the calling thread does not hold the lock.
    public func notifyAll() throws(SynchronizationError) {
        try wake(Int32.max, "\(what).notifyAll")
    }

    // MARK: the async form

    /// Takes the lock, waits (at most `timeout` in all) until `predicate` is true, runs `body`,
    /// releases the lock: all on one thread, off Swift's cooperative pool (async code cannot hold
    /// a thread's lock across an `await`). Throws ``SynchronizationError/Code/timedOut`` when the
    /// timeout passed first (`body` not run); task cancellation ends the wait with
    /// `CancellationError`.
    public func withLock<R: Sendable>(when predicate: @escaping @Sendable () throws -> Bool, timeout: Duration? = nil,
                                      _ body: @escaping @Sendable () throws -> R) async throws -> R {
        let deadline = try SynchronizationError.deadline(timeout, "\(what).withLock(when:)")
        try Task.checkCancellation()
        // Once on the task: a free lock and a true predicate need no thread.
        let core = lockGuard.core
        if try core.acquire(until: .now, recovering: nil, cancellation: nil, what) {
            defer { try? core.release(what) }
            if try predicate() { return try body() }
        }
        return try await BlockingWait.run("\(what).withLock(when:)") { [self] cancellation in
            cancellation.onCancel { [self] in sequence.wake() }
            guard try core.acquire(until: deadline, recovering: nil,
                                   cancellation: cancellation, what) else {
                throw SynchronizationError(.timedOut, "\(what).withLock(when:): the lock was not acquired in time")
            }
            defer { try? core.release(what) }
            guard try wait(for: predicate, until: deadline, cancellation: cancellation) else {
                throw SynchronizationError(.timedOut, "\(what).withLock(when:): the predicate was still false at the timeout")
            }
            return try body()
        }
    }

    /// The blocking form of ``withLock(when:timeout:_:)-(_,_,@Sendable()->R)``.
    public func withLock<R>(when predicate: () throws -> Bool, timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        let deadline = try SynchronizationError.deadline(timeout, "\(what).withLock(when:)")
        let core = lockGuard.core
        guard try core.acquire(until: deadline, recovering: nil, cancellation: nil, what) else {
            throw SynchronizationError(.timedOut, "\(what).withLock(when:): the lock was not acquired in time")
        }
        defer { try? core.release(what) }
        guard try wait(for: predicate, until: deadline, cancellation: nil) else {
            throw SynchronizationError(.timedOut, "\(what).withLock(when:): the predicate was still false at the timeout")
        }
        return try body()
    }

    // MARK: the work

    private func wait(for predicate: () throws -> Bool, until deadline: MonotonicInstant?,
                      cancellation: WaitCancellation?) throws -> Bool {
        while try !predicate() {
            if let deadline, deadline.hasPassed { return false }
            _ = try wait(until: deadline, cancellation: cancellation)
        }
        return true
    }

    private func wait(until deadline: MonotonicInstant?, cancellation: WaitCancellation?) throws -> Bool {
        let core = lockGuard.core
        guard try core.isHeldByCallingThread("\(what).wait") else { throw LockCore.notOwner("\(what).wait") }
        // The ticket is taken with the lock held: a notify after the release below sees it.
        guard let slot = tickets.enqueue() else {
            throw SynchronizationError(.tooManyWaiters, "\(what).wait: \(ConditionTickets.capacity) threads wait on it already")
        }
        let levels: UInt32
        do { levels = try core.releaseAll("\(what).wait") } catch { _ = tickets.leave(slot); throw error }
        waiters.add(1)
        var failure: Errno?
        while true {
            // Read before looking at the slot: a grant after the look changes it, so the futex
            // wait returns at once instead of missing the wake-up.
            let observed = sequence.load()
            if tickets.isGranted(slot) { break }
            if let cancellation, cancellation.isCancelled { break }
            if let deadline, deadline.hasPassed { break }
            if case .failure(let errno) = sequence._nap(whileEqualTo: observed, until: deadline) { failure = errno; break }
        }
        waiters.subtract(1)
        let cancelled = cancellation?.isCancelled ?? false
        defer {
            // Leaving frees the slot; a grant that came after the timeout still counts (the
            // waiter returns notified), one that came to a cancelled waiter is passed on.
            let notified = tickets.leave(slot)
            if cancelled, notified { grantAndWake(1) }
        }
        try core.reacquire(levels: levels, "\(what).wait")
        if let failure { throw SynchronizationError.system(failure, "futex", "\(what).wait") }
        if cancelled { throw CancellationError() }
        return tickets.isGranted(slot)
    }

    private func wake(_ count: Int32, _ what: String) throws(SynchronizationError) {
        guard try lockGuard.core.isHeldByCallingThread(what) else { throw LockCore.notOwner(what) }
        grantAndWake(Int(count))
    }

    /// Grants the oldest `count` waiters and wakes every sleeper: the futex cannot pick which
    /// ones, so those not granted look at their slot and sleep again.
    private func grantAndWake(_ count: Int) {
        guard tickets.grant(count) > 0 else { return }
        sequence.add(1)
        sequence.wake()
    }

    /// Threads sleeping in a wait now, in every process (a waiter that died counts on).
    var sleepers: Int { Int(waiters.load()) }

    /// A short description for logs.
    public var description: String { "Condition(\(placement.handle.map { "\($0)" } ?? "unplaced"))" }

    private enum CodingKeys: String, CodingKey { case state, lock, reentrant }

    /// Encodes the handle of the shared state (never the state itself): every decoded copy is
    /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(placement.handleForEncoding(Self.name, encoder), forKey: .state)
        switch lockGuard {
        case .lock(let lock): try container.encode(lock, forKey: .lock)
        case .rlock(let lock): try container.encode(lock, forKey: .lock)
        }
        try container.encode(lockGuard.isReentrant, forKey: .reentrant)
    }

    /// The condition a handle names, with its lock. Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` for a handle that is not a live
    /// Condition of this tree's arena.
    public convenience init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let handle = try container.decode(ArenaHandle.self, forKey: .state)
        let lockGuard: Guard = try container.decode(Bool.self, forKey: .reentrant)
            ? .rlock(try container.decode(RLock.self, forKey: .lock))
            : .lock(try container.decode(Lock.self, forKey: .lock))
        self.init(attaching: try SharedPlacement.resolve(handle, byteCount: Self.byteCount, tag: SharedPlacement.Tag.condition, Self.name,
                                                         decoder: decoder),
                  guard: lockGuard)
    }
}
