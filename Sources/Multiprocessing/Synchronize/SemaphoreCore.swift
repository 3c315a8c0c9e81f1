/// The shared state of a ``Multiprocessing/Semaphore`` or a ``BoundedSemaphore``: four futex words.
///
/// ```
/// offset 0   UInt32 value    the count (the futex word acquirers sleep on while it is 0)
///        4   UInt32 waiters  how many threads sleep or are about to (a releaser skips the
///                            wake system call when it is 0)
///        8   UInt32 limit    the highest value a BoundedSemaphore may reach
///        12  UInt32 bounded  1 for a BoundedSemaphore
/// ```
///
/// Why it survives a dead process: nothing is ever held. An acquire is one compare-and-swap
/// on `value`; a release adds and wakes *every* sleeper, and each re-checks the count. A
/// waiter killed in its sleep simply leaves the kernel's queue; one killed between its wake-up
/// and its decrement cannot swallow the release, since the others were woken too (a wake of
/// one would be lost with it). A dead waiter leaves `waiters` one too high for good, which
/// costs later releases a wake system call, nothing more. A releaser killed between its add
/// and its wake leaves the sleepers asleep: they look at the count again at least once a
/// second (``FutexWord/recheckInterval``). A process that dies after acquiring and before
/// releasing keeps its unit, as in Python.
// Unchecked: an immutable pointer into the arena; every access is an atomic on a futex word.
struct SemaphoreCore: @unchecked Sendable {
    static let byteCount = 16
    static let alignment = 4
    /// Python's `SEM_VALUE_MAX` on Linux.
    static let maximumValue = Int(Int32.max)

    let base: UnsafeMutableRawPointer
    var value: FutexWord { FutexWord(base) }
    var waiters: FutexWord { FutexWord(base + 4) }
    private var limit: FutexWord { FutexWord(base + 8) }
    var isBounded: Bool { FutexWord(base + 12).load() != 0 }

    init(at base: UnsafeMutableRawPointer) { self.base = base }

    static func validate(_ value: Int, _ what: String) throws(SynchronizationError) {
        guard value >= 0, value <= maximumValue else {
            throw SynchronizationError(.invalidArgument, "\(what): the initial value \(value) is not in 0...\(maximumValue)")
        }
    }

    static func initialize(at base: UnsafeMutableRawPointer, value: Int, bounded: Bool) -> SemaphoreCore {
        let core = SemaphoreCore(at: base)
        core.value.initialize(to: UInt32(value))
        core.waiters.initialize(to: 0)
        core.limit.initialize(to: UInt32(value))
        FutexWord(base + 12).initialize(to: bounded ? 1 : 0)
        return core
    }

    /// Takes one unit if there is one.
    func tryAcquire() -> Bool {
        var current = value.load()
        while current > 0 {
            let (exchanged, original) = value.compareExchange(expected: current, desired: current - 1)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Takes one unit, sleeping while there is none, until `deadline` (false then) or
    /// cancellation (`CancellationError`).
    func acquire(until deadline: MonotonicInstant?, cancellation: WaitCancellation?, _ what: String) throws -> Bool {
        while true {
            if tryAcquire() { return true }
            if let cancellation, cancellation.isCancelled { throw CancellationError() }
            if let deadline, deadline.hasPassed { return false }
            waiters.add(1)
            let outcome = value._nap(whileEqualTo: 0, until: deadline)
            waiters.subtract(1)
            if case .failure(let errno) = outcome { throw SynchronizationError.system(errno, "futex", "\(what).acquire: waiting") }
        }
    }

    /// Adds `count` units and wakes every sleeper.
    func release(_ count: Int, _ what: String) throws(SynchronizationError) {
        guard count >= 1 else {
            throw SynchronizationError(.invalidArgument, "\(what).release: the count \(count) is not positive")
        }
        let ceiling = isBounded ? Int(limit.load()) : Self.maximumValue
        var current = value.load()
        while true {
            guard count <= ceiling - Int(current) else {
                if isBounded {
                    throw SynchronizationError(.overReleased, "\(what).release: released \(count) more with the value at \(current) would pass its bound \(ceiling) (released more often than acquired)")
                }
                throw SynchronizationError(.invalidArgument, "\(what).release: the value \(current) + \(count) would pass \(ceiling)")
            }
            let (exchanged, original) = value.compareExchange(expected: current, desired: current + UInt32(count))
            if exchanged { break }
            current = original
        }
        if waiters.load() > 0 { value.wake() }
    }
}

/// The async form shared by the semaphores: once on the task, else on a wait thread.
extension SemaphoreCore {
    func acquireAsync(keeping owner: some Sendable, timeout: Duration?, _ what: String) async throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, "\(what).acquire")
        try Task.checkCancellation()
        if tryAcquire() { return true }
        if let deadline, deadline.hasPassed { return false }
        let core = self
        return try await BlockingWait.run("\(what).acquire") { cancellation in
            try withExtendedLifetime(owner) {
                cancellation.onCancel { core.value.wake() }
                return try core.acquire(until: deadline, cancellation: cancellation, what)
            }
        }
    }
}
