#ifndef MP_SHM_H
#define MP_SHM_H
// The arena's own robust mutex (its allocator and the built-in locks of shared values) and
// the memory advice the arena needs. Each function returns what its C function returns
// unless noted.
#include <pthread.h>
#include <stddef.h>

/// Initializes `*mutex` as a process-shared (`PTHREAD_PROCESS_SHARED`), robust
/// (`PTHREAD_MUTEX_ROBUST`), normal mutex in memory every process maps. Returns 0 or an error
/// number.
int mp_shm_mutex_init(pthread_mutex_t *mutex);

/// `sizeof(pthread_mutex_t)`: the arena checks it fits the slot it reserves.
size_t mp_shm_mutex_size(void);

#endif
