/// The shared state of a ``Lock`` or an ``RLock``, at a fixed address in shared memory:
///
/// ```
/// offset 0   pthread_mutex_t (40 bytes on glibc): process-shared, robust, error-checking
///        40  UInt32 ownerDied: 1 from the moment an acquirer found the holder dead until a
///            recovery closure ran (so the mark survives the acquirer, and every process sees it)
///        44  UInt32 depth: how many times the holder has acquired an RLock (only the holder
///            reads or writes it; a Lock keeps 1 while held)
///
/// Both words are read and written only under the mutex (`ownerDied` is also peeked at by
/// ``Lock/ownerDied``), so their accesses are relaxed: the mutex orders them.
/// ```
///
/// Why it survives a dead holder: the kernel walks a dying thread's robust-mutex list and
/// marks each mutex it held (`FUTEX_OWNER_DIED`), so the next `pthread_mutex_lock` anywhere
/// returns `EOWNERDEAD` with the mutex held instead of waiting forever. That acquirer calls
/// `pthread_mutex_consistent` at once (the mutex must never become `ENOTRECOVERABLE`) and sets
/// `ownerDied`; from then on every acquisition releases and throws
/// ``SynchronizationError/Code/ownerDied`` until one brings a recovery closure. The dead
/// holder's `depth` is overwritten by the next holder.
///
/// Ownership checks ask the mutex, not a stored thread id (which a dead process's recycled
/// thread id could match): an error-checking robust mutex answers a try-lock by its holder
/// with `EDEADLK`, and the kernel clears a dead holder's id from the lock word.
// Unchecked: an immutable pointer into the arena; the robust mutex and atomic words order every access.
struct LockCore: @unchecked Sendable {
    static let byteCount = 48
    static let alignment = 8
    private static let ownerDiedOffset = 40
    private static let depthOffset = 44

    let base: UnsafeMutableRawPointer
    /// An RLock's (a second acquisition by the holder goes one level deeper) or a Lock's
    /// (`wouldDeadlock`; `depth` is not used).
    let reentrant: Bool
    private var mutex: RobustMutex { RobustMutex(at: base) }
    private var ownerDied: FutexWord { FutexWord(base + Self.ownerDiedOffset) }
    private var depth: FutexWord { FutexWord(base + Self.depthOffset) }

    init(at base: UnsafeMutableRawPointer, reentrant: Bool) {
        precondition(RobustMutex.byteCount <= Self.ownerDiedOffset, "pthread_mutex_t does not fit a LockCore")
        self.base = base
        self.reentrant = reentrant
    }

    /// Initializes fresh memory (once, by the creator, before anyone else can see it).
    static func initialize(at base: UnsafeMutableRawPointer, reentrant: Bool, _ what: String) throws(SynchronizationError) -> LockCore {
        if case .failure(let errno) = RobustMutex.initialize(at: base) {
            throw .system(errno, "pthread_mutex_init", "\(what): initializing the mutex")
        }
        let core = LockCore(at: base, reentrant: reentrant)
        core.ownerDied.initialize(to: 0)
        core.depth.initialize(to: 0)
        return core
    }

    /// Whether a holder died and nobody has recovered since.
    var isOwnerDead: Bool { ownerDied.loadRelaxed() != 0 }

    /// Acquires. Returns false when `deadline` passed first. A second acquisition by the holder
    /// counts one level deeper (RLock), or for a Lock returns false with a deadline and throws
    /// `wouldDeadlock` without one. With `cancellation`,
    /// the wait wakes every 10 ms to look at it: a mutex wait cannot be woken from outside.
    func acquire(until deadline: MonotonicInstant?, recovering: (() throws -> Void)?,
                 cancellation: WaitCancellation?, _ what: String) throws -> Bool {
        // The holder asking again is answered by the mutex (EDEADLK) and never blocks. The common
        // case (a Lock, no deadline) is one pthread_mutex_lock.
        var outcome = try checked(reentrant || deadline != nil || cancellation != nil ? mutex.tryLock() : mutex.lock(until: nil),
                                  "pthread_mutex_lock", what)
        while outcome == .unavailable {
            if let cancellation, cancellation.isCancelled { throw CancellationError() }
            if let deadline, deadline.hasPassed { return false }
            let slice = cancellation == nil ? deadline : MonotonicInstant.after(.milliseconds(10)).earlier(than: deadline)
            outcome = try checked(mutex.lock(until: slice), "pthread_mutex_clocklock", what)
        }
        switch outcome {
        case .alreadyOwned:
            guard reentrant else {
                // With a timeout, Python answers False (after waiting in vain: only this thread
                // could release it, so the answer is known now). Without, Python hangs forever.
                if deadline != nil { return false }
                throw SynchronizationError(.wouldDeadlock, "\(what): the calling thread already holds this Lock (an RLock can be acquired again by its holder)")
            }
            depth.storeRelaxed(depth.loadRelaxed() + 1)
            return true
        case .ownerDied:
            try markConsistent(what)
        case .acquired, .unavailable:
            break
        }
        if reentrant { depth.storeRelaxed(1) }
        if ownerDied.loadRelaxed() != 0 {
            guard let recovering else {
                releaseOnce()
                throw SynchronizationError(.ownerDied, "\(what): a process died holding the lock; the state it protects may be half-updated. Acquire with a recovery closure (withLock(recovering:) or acquire(recovering:)) to repair it")
            }
            do {
                try recovering()
            } catch {
                releaseOnce()
                throw error
            }
            ownerDied.storeRelaxed(0)
        }
        return true
    }

    /// Releases one level (an RLock held deeper stays held). Throws `notOwner` when the calling
    /// thread does not hold the lock.
    func release(_ what: String) throws(SynchronizationError) {
        guard reentrant else {
            // An error-checking robust mutex refuses an unlock by anyone but its holder (EPERM).
            switch mutex.unlock() {
            case .success: return
            case .failure(.notPermitted): throw Self.notOwner(what)
            case .failure(let errno): throw .system(errno, "pthread_mutex_unlock", what)
            }
        }
        // The common case, one level: a plain unlock, which the error-checking mutex refuses
        // (EPERM) to anyone but its holder. (The depth a non-holder reads is the holder's, but a
        // non-holder never writes it; a free lock's depth is not read by its next holder.)
        if depth.loadRelaxed() <= 1 {
            switch mutex.unlock() {
            case .success: return
            case .failure(.notPermitted): throw Self.notOwner(what)
            case .failure(let errno): throw .system(errno, "pthread_mutex_unlock", what)
            }
        }
        switch try checked(mutex.tryLock(), "pthread_mutex_trylock", what) {
        case .alreadyOwned:
            let level = depth.loadRelaxed()
            if level > 1 {
                depth.storeRelaxed(level - 1)
            } else {
                releaseOnce()
            }
        case .acquired:
            releaseOnce()
            throw Self.notOwner(what)
        case .ownerDied:
            try markConsistent(what)
            releaseOnce()
            throw Self.notOwner(what)
        case .unavailable:
            throw Self.notOwner(what)
        }
    }

    /// Whether the calling thread holds the lock.
    func isHeldByCallingThread(_ what: String) throws(SynchronizationError) -> Bool {
        switch try checked(mutex.tryLock(), "pthread_mutex_trylock", what) {
        case .alreadyOwned: return true
        case .acquired: releaseOnce(); return false
        case .ownerDied: try markConsistent(what); releaseOnce(); return false
        case .unavailable: return false
        }
    }

    /// For a ``Condition`` wait: releases every level the holder has, returns how many.
    func releaseAll(_ what: String) throws(SynchronizationError) -> UInt32 {
        guard try isHeldByCallingThread(what) else { throw Self.notOwner(what) }
        let level = reentrant ? depth.loadRelaxed() : 1
        releaseOnce()
        return level
    }

    /// For a ``Condition`` wait: takes the lock back with `levels` levels, waiting as long as it
    /// takes. If a holder died meanwhile, the lock is held again and `ownerDied` is thrown.
    func reacquire(levels: UInt32, _ what: String) throws(SynchronizationError) {
        if try checked(mutex.lock(until: nil), "pthread_mutex_lock", what) == .ownerDied {
            try markConsistent(what)
        }
        if reentrant { depth.storeRelaxed(levels) }
        if ownerDied.loadRelaxed() != 0 {
            throw SynchronizationError(.ownerDied, "\(what): a process died holding the lock while this thread waited; the lock is held again")
        }
    }

    private func releaseOnce() {
        if reentrant { depth.storeRelaxed(0) }
        _ = mutex.unlock()
    }

    private func markConsistent(_ what: String) throws(SynchronizationError) {
        ownerDied.storeRelaxed(1)
        if case .failure(let errno) = mutex.markConsistent() {
            throw .system(errno, "pthread_mutex_consistent", what)
        }
    }

    private func checked(_ result: Result<RobustMutex.LockOutcome, Errno>, _ operation: String,
                         _ what: String) throws(SynchronizationError) -> RobustMutex.LockOutcome {
        switch result {
        case .success(let outcome): return outcome
        case .failure(let errno): throw .system(errno, operation, what)
        }
    }

    static func notOwner(_ what: String) -> SynchronizationError {
        SynchronizationError(.notOwner, "\(what): the calling thread does not hold the lock (a lock belongs to the thread that acquired it)")
    }
}

// MARK: - withLock, shared by Lock and RLock

extension LockCore {
    /// Acquires (waiting until the timeout), runs `body`, releases.
    func withLock<R>(timeout: Duration?, recovering: (() throws -> Void)?,
                     _ what: String, _ body: () throws -> R) throws -> R {
        let deadline = try SynchronizationError.deadline(timeout, what)
        guard try acquire(until: deadline, recovering: recovering, cancellation: nil, what) else {
            throw Self.timedOut(timeout, what)
        }
        defer { try? release(what) }
        return try body()
    }

    /// The async form: tries once on the calling task; if the lock is busy, the wait, `body`
    /// and the release all run on one wait thread (a mutex belongs to the thread that locked
    /// it), and task cancellation ends the wait.
    func withLockAsync<R: Sendable>(keeping owner: some Sendable, timeout: Duration?,
                                    recovering: (@Sendable () throws -> Void)?, _ what: String,
                                    _ body: @escaping @Sendable () throws -> R) async throws -> R {
        let deadline = try SynchronizationError.deadline(timeout, what)
        try Task.checkCancellation()
        if try acquire(until: .now, recovering: recovering, cancellation: nil, what) {
            defer { try? release(what) }
            return try body()
        }
        let core = self
        return try await BlockingWait.run(what) { cancellation in
            try withExtendedLifetime(owner) {
                guard try core.acquire(until: deadline, recovering: recovering,
                                       cancellation: cancellation, what) else {
                    throw Self.timedOut(timeout, what)
                }
                defer { try? core.release(what) }
                return try body()
            }
        }
    }

    static func timedOut(_ timeout: Duration?, _ what: String) -> SynchronizationError {
        SynchronizationError(.timedOut, "\(what): the lock was not acquired within \(timeout.map { "\($0)" } ?? "the timeout")")
    }
}
