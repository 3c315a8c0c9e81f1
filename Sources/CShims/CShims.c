#define _GNU_SOURCE
#include "CShims.h"
#include <malloc.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int mp_fuzzer_available(void) { return LLVMFuzzerRunDriver != 0; }

int mp_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t)) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}

// MARK: - Syscalls Glibc hides

int mp_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags); }

int mp_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int mp_accept4(int fd, void *address, unsigned int *length, int flags) {
    return accept4(fd, (struct sockaddr *)address, (socklen_t *)length, flags);
}

int mp_malloc_trim(size_t pad) { return malloc_trim(pad); }

int mp_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int mp_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

char *const *mp_environ(void) { return environ; }

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int mp_pidfd_open(pid_t pid, unsigned int flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}

int mp_pidfd_send_signal(int pidfd, int sig, unsigned int flags) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags);
}

int mp_waitid_pidfd(int pidfd, int options, int *code, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, options) != 0) return -1;
    *code = info.si_code;
    *status = info.si_status;
    return info.si_pid;
}

int mp_wifexited(int status) { return WIFEXITED(status); }
int mp_wexitstatus(int status) { return WEXITSTATUS(status); }
int mp_wifsignaled(int status) { return WIFSIGNALED(status); }
int mp_wtermsig(int status) { return WTERMSIG(status); }
int mp_wcoredump(int status) { return WCOREDUMP(status); }

int mp_prctl_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL); }
int mp_prctl_get_pdeathsig(int *sig) { return prctl(PR_GET_PDEATHSIG, sig, 0UL, 0UL, 0UL); }
int mp_prctl_set_child_subreaper(int on) {
    return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)(on != 0), 0UL, 0UL, 0UL);
}
int mp_prctl_get_child_subreaper(int *on) { return prctl(PR_GET_CHILD_SUBREAPER, on, 0UL, 0UL, 0UL); }

int mp_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

const char *mp_strerror(int errnum, char *buffer, size_t length) {
    return strerror_r(errnum, buffer, length);
}

const char *mp_sigabbrev(int sig) { return sigabbrev_np(sig); }

int mp_signal_set_ignored(int sig, int ignore, int *was_ignored) {
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_handler = ignore ? SIG_IGN : SIG_DFL;
    sigemptyset(&action.sa_mask);
    if (sigaction(sig, &action, &previous) != 0) return -1;
    if (was_ignored) {
        *was_ignored = previous.sa_handler == SIG_IGN ? 1 : (previous.sa_handler == SIG_DFL ? 0 : 2);
    }
    return 0;
}

int mp_sigrtmin(void) { return SIGRTMIN; }
int mp_sigrtmax(void) { return SIGRTMAX; }

size_t mp_heap_bytes_in_use(void) { return mallinfo2().uordblks; }

static volatile int mp_signal_pipe_fd = -1;

static void mp_signal_pipe_handler(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (mp_signal_pipe_fd >= 0) { ssize_t ignored = write(mp_signal_pipe_fd, &byte, 1); (void)ignored; }
    errno = saved;
}

int mp_signal_to_pipe(int signo, int fd) {
    mp_signal_pipe_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = mp_signal_pipe_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(signo, &action, NULL);
}

// MARK: - A child's first act

#include <stdlib.h>

static int mp_early_check_ran = 0;

int mp_early_child_check_ran(void) { return mp_early_check_ran; }

/// Runs before `main` (and before any Swift code) in every executable that links
/// Multiprocessing. When the `MP_` variables say the runtime started this process (an entry
/// or a trampoline), it asks for SIGKILL when the parent's spawning thread ends and checks
/// that the parent is still the one that started it: a child whose parent died, or whose
/// program never reaches `bootstrap`, cannot run on as an orphan. `bootstrap` repeats both
/// (the second line of defence). Only async-signal-safe calls besides `getenv`.
__attribute__((constructor)) static void mp_early_child_check(void) {
    mp_early_check_ran = 1;
    const char *parent = getenv("MP_PARENT_PID");
    if (parent == NULL || (getenv("MP_ENTRY") == NULL && getenv("MP_EXEC") == NULL)) return;
    long expected = strtol(parent, NULL, 10);
    if (expected <= 0) return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if ((long)getppid() != expected) {
        static const char message[] = "mp: the process that started this child is gone; exiting before main\n";
        ssize_t ignored = write(2, message, sizeof message - 1);
        (void)ignored;
        _exit(74);   // ChildExitCode.orphaned
    }
}
