#ifndef CSHIMS_H
#define CSHIMS_H
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include "mp_fork_server.h"

/// libFuzzer's driver entry point. Declared weak so that an ordinary (non-fuzzer) build
/// still links; `mp_fuzzer_available()` says whether the fuzzer runtime is present.
int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*UserCb)(const uint8_t *Data, size_t Size)) __attribute__((weak));

/// 1 when the binary was linked with libFuzzer (`-sanitize=fuzzer`), else 0.
int mp_fuzzer_available(void);

/// Runs libFuzzer's driver with `callback`; returns -1 when libFuzzer is not linked.
int mp_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t));

// MARK: - Syscalls Glibc hides (they need _GNU_SOURCE, are variadic, or are macros).
// Each returns what the C function returns and leaves `errno` set as it does, unless noted.

/// `memfd_create(name, flags)`. Flags: `MP_MFD_*`.
int mp_memfd_create(const char *name, unsigned int flags);
#define MP_MFD_CLOEXEC 0x0001U
#define MP_MFD_ALLOW_SEALING 0x0002U

/// `pipe2(fds, flags)`. Flags: `O_CLOEXEC`, `O_NONBLOCK`.
int mp_pipe2(int fds[2], int flags);

/// `accept4(fd, address, length, flags)`. Flags: `SOCK_CLOEXEC`, `SOCK_NONBLOCK`.
int mp_accept4(int fd, void *address, unsigned int *length, int flags);

/// `malloc_trim(pad)` (glibc's `<malloc.h>`): 1 if memory was given back to the kernel.
int mp_malloc_trim(size_t pad);

/// `posix_spawn_file_actions_addclosefrom_np(actions, from)`: returns 0 or an error number.
int mp_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// `posix_spawn_file_actions_addchdir_np(actions, path)`: returns 0 or an error number.
int mp_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// The `environ` of this process (for spawning with the inherited environment).
char *const *mp_environ(void);

/// `pidfd_open(pid, flags)` through `syscall(SYS_pidfd_open)`; the descriptor is close-on-exec.
int mp_pidfd_open(pid_t pid, unsigned int flags);

/// `pidfd_send_signal(pidfd, sig, NULL, flags)` through `syscall(SYS_pidfd_send_signal)`.
int mp_pidfd_send_signal(int pidfd, int sig, unsigned int flags);

/// `waitid(P_PIDFD, pidfd, &info, options)`. On success returns the child's pid, or 0 when
/// `WNOHANG` was given and the child has not changed state; `*code` receives `si_code`
/// (`CLD_EXITED`, `CLD_KILLED`, `CLD_DUMPED`, ...) and `*status` receives `si_status`.
/// Returns -1 with `errno` set on failure.
int mp_waitid_pidfd(int pidfd, int options, int *code, int *status);

/// `si_code` values of `mp_waitid_pidfd`.
#define MP_CLD_EXITED 1
#define MP_CLD_KILLED 2
#define MP_CLD_DUMPED 3

/// The `<sys/wait.h>` macros, as functions.
int mp_wifexited(int status);
int mp_wexitstatus(int status);
int mp_wifsignaled(int status);
int mp_wtermsig(int status);
int mp_wcoredump(int status);

/// `prctl(PR_SET_PDEATHSIG, sig)` / `prctl(PR_GET_PDEATHSIG, &sig)`.
int mp_prctl_set_pdeathsig(int sig);
int mp_prctl_get_pdeathsig(int *sig);
/// `prctl(PR_SET_CHILD_SUBREAPER, on)` / `prctl(PR_GET_CHILD_SUBREAPER, &on)`.
int mp_prctl_set_child_subreaper(int on);
int mp_prctl_get_child_subreaper(int *on);

/// The number of CPUs this process may run on: `CPU_COUNT` of `sched_getaffinity`, or
/// `sysconf(_SC_NPROCESSORS_ONLN)` when that fails. Always at least 1.
int mp_cpu_count(void);

/// GNU `strerror_r`: the message for `errnum` (in `buffer` or a static string).
const char *mp_strerror(int errnum, char *buffer, size_t length);

/// `sigabbrev_np(sig)`: "KILL" for SIGKILL, or NULL for an unknown number.
const char *mp_sigabbrev(int sig);

/// Sets the disposition of `sig` to ignored (`ignore` != 0) or default, with `sigaction`;
/// the previous one is stored in `*was_ignored` (1 ignored, 0 default, 2 a handler) if not NULL.
int mp_signal_set_ignored(int sig, int ignore, int *was_ignored);

/// `SIGRTMIN` / `SIGRTMAX` (macros calling into glibc).
int mp_sigrtmin(void);
int mp_sigrtmax(void);
/// Bytes the heap has handed out and not taken back (`mallinfo2().uordblks`), for leak tests:
/// `<malloc.h>` is not part of Glibc's Swift module.
size_t mp_heap_bytes_in_use(void);

/// Installs a handler for `signo` that writes the signal number as one byte to `fd` (a
/// non-blocking pipe): the async-signal-safe half of turning signals into events a thread can
/// read. Returns 0, or -1 with errno set.
int mp_signal_to_pipe(int signo, int fd);

#include "mp_sync.h"
#include "mp_tracker.h"

/// 1 once the constructor that checks a runtime-started child's parent ran (it runs before
/// `main` in every executable that links this target, whether or not it is a child).
int mp_early_child_check_ran(void);

#endif
