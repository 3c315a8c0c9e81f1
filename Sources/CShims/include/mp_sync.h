#ifndef MP_SYNC_H
#define MP_SYNC_H
// Futexes and process-shared robust mutexes for the `Synchronize` primitives. Each function
// returns what its C function returns and leaves `errno` set as it does, unless noted.
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/// `futex(addr, FUTEX_WAIT_BITSET, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY)`: the
/// shared (not `_PRIVATE`) variant, since the word lives in memory mapped by several
/// processes. Sleeps while `*addr == expected`, until a wake, a signal (`EINTR`) or the
/// absolute `CLOCK_MONOTONIC` `deadline` (`ETIMEDOUT`; NULL waits forever). Returns 0 when
/// woken, -1 with `errno` (`EAGAIN` when `*addr != expected` already).
int mp_futex_wait(uint32_t *addr, uint32_t expected, const struct timespec *deadline);

/// `futex(addr, FUTEX_WAKE, count)`, shared: wakes up to `count` waiters on `addr` in any
/// process. Returns how many were woken, or -1 with `errno`.
int mp_futex_wake(uint32_t *addr, int count);

/// Initializes `*mutex` as a process-shared (`PTHREAD_PROCESS_SHARED`), robust
/// (`PTHREAD_MUTEX_ROBUST`), error-checking (`PTHREAD_MUTEX_ERRORCHECK`) mutex. Returns 0 or
/// an error number.
int mp_mutex_init_shared_robust(pthread_mutex_t *mutex);

/// `pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, deadline)`: returns 0 or an error number
/// (`ETIMEDOUT`, `EOWNERDEAD`, `EDEADLK`, `ENOTRECOVERABLE`).
int mp_mutex_lock_until(pthread_mutex_t *mutex, const struct timespec *deadline);

/// `pthread_mutex_lock(mutex)` after a short spin: while the mutex looks held (its lock word,
/// glibc's `__data.__lock`, is not 0) the caller pauses and looks again, read-only, and tries
/// to take it when it looks free; only after `spins` looks does it block in the kernel. A
/// critical section of a few instructions held by a thread on another CPU ends within the
/// spin, which saves the futex sleep and wake (on shared memory, a futex call also has to
/// look up the page). Returns what `pthread_mutex_trylock`/`pthread_mutex_lock` return (0,
/// `EOWNERDEAD`, `EDEADLK`, `ENOTRECOVERABLE`, ...), never `EBUSY`.
int mp_mutex_lock_spinning(pthread_mutex_t *mutex, int spins);

/// `gettid()`: the calling thread's kernel id (what a robust mutex records as its owner).
pid_t mp_gettid(void);

#endif
