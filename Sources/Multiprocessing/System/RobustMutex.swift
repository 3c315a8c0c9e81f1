#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// The one process-shared, robust, error-checking pthread mutex of the package, placed in
/// shared memory: the arena's allocator lock, every ``Lock``/``RLock`` and every ``Barrier``'s
/// bookkeeping lock are this type.
///
/// - Process-shared: threads of every process that maps the memory lock the same mutex.
/// - Robust: when a thread dies holding it (its process killed), the kernel marks it on the
///   thread's way out, and the next lock returns ``LockOutcome/ownerDied`` with the mutex held;
///   the caller repairs what it protects and calls ``markConsistent()`` (unlocking without it
///   makes the mutex unrecoverable, `ENOTRECOVERABLE`, for every process).
/// - Error-checking: a second lock by the holder answers ``LockOutcome/alreadyOwned``
///   (`EDEADLK`) instead of deadlocking, and an unlock by any other thread fails with `EPERM`
///   (``Errno/notPermitted``).
///
/// A pthread mutex belongs to the *thread* that locked it: lock and unlock on the same thread,
/// never across an `await`.
@usableFromInline
struct RobustMutex: @unchecked Sendable {   // a pointer into shared memory; the mutex orders every access
    let address: UnsafeMutablePointer<pthread_mutex_t>

    /// Bytes and alignment of the mutex (40 and 8 on x86-64 and arm64 glibc).
    static let byteCount = MemoryLayout<pthread_mutex_t>.size
    static let alignment = MemoryLayout<pthread_mutex_t>.alignment

    /// The mutex at `address`, already initialized (by whoever allocated the memory).
    init(at address: UnsafeMutableRawPointer) {
        self.address = address.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Initializes a mutex in fresh memory at `address` (once, by whoever allocated it, before
    /// any other thread can see it). The corresponding C functions are
    /// `pthread_mutexattr_setpshared`, `pthread_mutexattr_setrobust`,
    /// `pthread_mutexattr_settype(PTHREAD_MUTEX_ERRORCHECK)` and `pthread_mutex_init`.
    static func initialize(at address: UnsafeMutableRawPointer) -> Result<RobustMutex, Errno> {
        let pointer = address.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        return returnedErrno { mp_mutex_init_shared_robust(pointer) }.map { RobustMutex(at: address) }
    }

    /// How a lock attempt ended.
    enum LockOutcome: Sendable, Equatable {
        /// The caller holds the mutex now.
        case acquired
        /// The caller holds the mutex now, and its previous holder died holding it: repair the
        /// protected state, then call ``markConsistent()`` before unlocking.
        case ownerDied
        /// The calling thread already holds it (nothing changed).
        case alreadyOwned
        /// Another thread holds it (try-lock) or the deadline passed.
        case unavailable
    }

    private static func outcome(_ result: Int32) -> Result<LockOutcome, Errno> {
        switch result {
        case 0: .success(.acquired)
        case EOWNERDEAD: .success(.ownerDied)
        case EDEADLK: .success(.alreadyOwned)
        case EBUSY, ETIMEDOUT: .success(.unavailable)
        default: .failure(Errno(rawValue: result))
        }
    }

    /// Locks, waiting until `deadline` (nil: for as long as it takes, after a short spin).
    /// ``Errno/stateNotRecoverable`` and other failures come back as errors. The corresponding
    /// C functions are `pthread_mutex_lock` (after `mp_mutex_lock_spinning`'s spin) and
    /// `pthread_mutex_clocklock(CLOCK_MONOTONIC)`.
    func lock(until deadline: MonotonicInstant? = nil) -> Result<LockOutcome, Errno> {
        // Without a deadline: a short read-only spin first (mp_sync.h), as glibc's adaptive
        // mutexes do; a robust mutex cannot be adaptive.
        guard let deadline else { return Self.outcome(mp_mutex_lock_spinning(address, Self.spins)) }
        var time = deadline.timespec
        return Self.outcome(mp_mutex_lock_until(address, &time))
    }

    /// How many times a lock without a deadline looks at a held mutex before it sleeps: about
    /// as long as a futex sleep and wake cost (a few microseconds).
    static let spins: Int32 = 100

    /// Locks if nobody holds it (``LockOutcome/unavailable`` otherwise, never waiting). The
    /// corresponding C function is `pthread_mutex_trylock`.
    func tryLock() -> Result<LockOutcome, Errno> {
        Self.outcome(pthread_mutex_trylock(address))
    }

    /// After ``LockOutcome/ownerDied`` and repairs: the mutex works normally again. The
    /// corresponding C function is `pthread_mutex_consistent`.
    func markConsistent() -> Result<Void, Errno> {
        returnedErrno { pthread_mutex_consistent(address) }
    }

    /// Unlocks; ``Errno/notPermitted`` when the calling thread does not hold it. The
    /// corresponding C function is `pthread_mutex_unlock`.
    func unlock() -> Result<Void, Errno> {
        returnedErrno { pthread_mutex_unlock(address) }
    }
}
