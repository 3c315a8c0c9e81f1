#define _GNU_SOURCE
#include "mp_sync.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int mp_futex_wait(uint32_t *addr, uint32_t expected, const struct timespec *deadline) {
    return (int)syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
}

int mp_futex_wake(uint32_t *addr, int count) {
    return (int)syscall(SYS_futex, addr, FUTEX_WAKE, count, NULL, NULL, 0);
}

int mp_mutex_init_shared_robust(pthread_mutex_t *mutex) {
    pthread_mutexattr_t attributes;
    int result = pthread_mutexattr_init(&attributes);
    if (result != 0) return result;
    if ((result = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED)) == 0 &&
        (result = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST)) == 0 &&
        (result = pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK)) == 0) {
        result = pthread_mutex_init(mutex, &attributes);
    }
    pthread_mutexattr_destroy(&attributes);
    return result;
}

int mp_mutex_lock_spinning(pthread_mutex_t *mutex, int spins) {
    for (int look = 0; look < spins; look++) {
        if (__atomic_load_n(&mutex->__data.__lock, __ATOMIC_RELAXED) == 0) {
            int result = pthread_mutex_trylock(mutex);
            if (result != EBUSY) return result;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    return pthread_mutex_lock(mutex);
}

int mp_mutex_lock_until(pthread_mutex_t *mutex, const struct timespec *deadline) {
    return pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, deadline);
}

pid_t mp_gettid(void) { return gettid(); }
