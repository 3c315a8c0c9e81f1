#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// A process-shared, robust, error-checking pthread mutex placed in shared memory.
///
/// - Process-shared: threads of every process that maps the memory lock the same mutex.
/// - Robust: when a thread dies holding it (its process killed), the kernel marks it on the
///   thread's way out, and the next lock returns ``LockOutcome/ownerDied`` with the mutex held;
///   ``markConsistent()`` then makes it usable again (unlocking without that makes it
///   unrecoverable for good).
/// - Error-checking: a second lock by the holder says ``LockOutcome/alreadyOwned`` instead of
///   deadlocking, and an unlock by any other thread fails with `EPERM`.
///
/// A pthread mutex belongs to the *thread* that locked it: unlock on that thread.
struct SharedMutex: @unchecked Sendable {
    let address: UnsafeMutablePointer<pthread_mutex_t>

    static let byteCount = MemoryLayout<pthread_mutex_t>.size
    static let alignment = MemoryLayout<pthread_mutex_t>.alignment

    init(_ address: UnsafeMutableRawPointer) {
        self.address = address.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Initializes the mutex in fresh memory. The corresponding C functions are
    /// `pthread_mutexattr_setpshared`, `pthread_mutexattr_setrobust`,
    /// `pthread_mutexattr_settype(PTHREAD_MUTEX_ERRORCHECK)` and `pthread_mutex_init`.
    static func _initialize(at address: UnsafeMutableRawPointer) -> Result<SharedMutex, Errno> {
        let pointer = address.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        return returnedErrno { mp_mutex_init_shared_robust(pointer) }.map { SharedMutex(address) }
    }

    enum LockOutcome: Sendable, Equatable {
        /// The caller holds the mutex now.
        case acquired
        /// The caller holds the mutex now, and its previous holder died holding it: call
        /// ``markConsistent()`` before unlocking.
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
    /// `ENOTRECOVERABLE` and other failures come back as errors. The corresponding C
    /// functions are `pthread_mutex_lock` (after `mp_mutex_lock_spinning`'s spin) and
    /// `pthread_mutex_clocklock(CLOCK_MONOTONIC)`.
    func _lock(until deadline: MonotonicInstant?) -> Result<LockOutcome, Errno> {
        // Without a deadline: a short read-only spin first (mp_sync.h), as glibc's adaptive
        // mutexes do; a robust mutex cannot be adaptive.
        guard let deadline else { return Self.outcome(mp_mutex_lock_spinning(address, Self.spins)) }
        var time = deadline.timespec
        return Self.outcome(mp_mutex_lock_until(address, &time))
    }

    /// How many times a lock without a deadline looks at a held mutex before it sleeps: about
    /// as long as a futex sleep and wake cost (a few microseconds).
    static let spins: Int32 = 100

    /// Locks if nobody holds it. The corresponding C function is `pthread_mutex_trylock`.
    func _tryLock() -> Result<LockOutcome, Errno> {
        Self.outcome(pthread_mutex_trylock(address))
    }

    /// After ``LockOutcome/ownerDied``: the protected state is usable again. The
    /// corresponding C function is `pthread_mutex_consistent`.
    func _markConsistent() -> Result<Void, Errno> {
        returnedErrno { pthread_mutex_consistent(address) }
    }

    /// Unlocks; `EPERM` when the calling thread does not hold it. The corresponding C
    /// function is `pthread_mutex_unlock`.
    func _unlock() -> Result<Void, Errno> {
        returnedErrno { pthread_mutex_unlock(address) }
    }

}
