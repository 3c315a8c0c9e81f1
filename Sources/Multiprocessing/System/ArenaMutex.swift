#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// A robust, process-shared pthread mutex at a fixed address in shared memory (the arena):
/// the lock of the arena's allocator and of each shared value's built-in lock.
///
/// Robust: when the thread holding it dies (its process killed), the next `lock` returns
/// ``LockOutcome/ownerDied``; the caller repairs what the lock protects and calls
/// ``markConsistent()`` before unlocking, or the mutex becomes unusable
/// (``Errno/stateNotRecoverable``) for every process. A pthread mutex is owned by a *thread*:
/// lock and unlock on the same thread, never across an `await`.
@usableFromInline
struct ArenaMutex {
    /// Bytes a mutex needs; the arena reserves ``slotSize`` for each.
    static var size: Int { mp_shm_mutex_size() }
    /// What the arena reserves for one mutex (a cache line and a half is plenty: 40 bytes on
    /// x86-64 and arm64 glibc).
    @usableFromInline static let slotSize = 64

    let pointer: UnsafeMutablePointer<pthread_mutex_t>

    init(at address: UnsafeMutableRawPointer) {
        pointer = address.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Initializes the mutex in place (once, by whoever allocated its memory; never while
    /// any process may hold it). The corresponding C functions are `pthread_mutexattr_setpshared`,
    /// `pthread_mutexattr_setrobust` and `pthread_mutex_init`.
    func initialize() -> Result<Void, Errno> {
        precondition(Self.size <= Self.slotSize, "pthread_mutex_t is larger than its arena slot")
        return returnedErrno { mp_shm_mutex_init(pointer) }
    }

    /// How a lock was taken.
    enum LockOutcome {
        /// The mutex was free, or released normally.
        case acquired
        /// The previous owner died holding it: the caller owns it now and must repair the
        /// state it protects, then call ``markConsistent()``.
        case ownerDied
    }

    /// Blocks until the mutex is this thread's. Fails with ``Errno/stateNotRecoverable`` if a
    /// previous owner died and its successor unlocked without ``markConsistent()``.
    /// The corresponding C function is `pthread_mutex_lock`.
    func lock() -> Result<LockOutcome, Errno> {
        let result = pthread_mutex_lock(pointer)
        switch result {
        case 0: return .success(.acquired)
        case EOWNERDEAD: return .success(.ownerDied)
        default: return .failure(Errno(rawValue: result))
        }
    }

    /// Takes the mutex if it is free. `nil` when another thread holds it.
    /// The corresponding C function is `pthread_mutex_trylock`.
    func tryLock() -> Result<LockOutcome?, Errno> {
        let result = pthread_mutex_trylock(pointer)
        switch result {
        case 0: return .success(.acquired)
        case EOWNERDEAD: return .success(.ownerDied)
        case EBUSY: return .success(nil)
        default: return .failure(Errno(rawValue: result))
        }
    }

    /// After ``LockOutcome/ownerDied`` and repairs: the mutex works normally again.
    /// The corresponding C function is `pthread_mutex_consistent`.
    func markConsistent() -> Result<Void, Errno> {
        returnedErrno { pthread_mutex_consistent(pointer) }
    }

    /// Releases the mutex (held by this thread). The corresponding C function is
    /// `pthread_mutex_unlock`.
    @usableFromInline
    func unlock() -> Result<Void, Errno> {
        returnedErrno { pthread_mutex_unlock(pointer) }
    }
}
