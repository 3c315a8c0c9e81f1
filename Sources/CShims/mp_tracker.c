#define _GNU_SOURCE
#include "mp_tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// The child below runs in a copy of a multithreaded process: until it exits it calls only
// async-signal-safe functions (no malloc, no locks, no stdio): sigaction, open, fcntl, dup2,
// close_range through syscall, read, unlink, _exit.

static void mp_tracker_run(int readEnd, const unsigned char *table, int slotCount, int slotSize) {
    // Survive a terminal's Ctrl-C and a kill of the process group: the root handles those
    // itself and then closes the pipe, which ends this process.
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ignore, NULL);
    sigaction(SIGTERM, &ignore, NULL);
    sigaction(SIGHUP, &ignore, NULL);
    sigaction(SIGQUIT, &ignore, NULL);
    sigaction(SIGPIPE, &ignore, NULL);

    // Keep only the pipe's read end (at 3) and /dev/null on 0-2: holding the root's standard
    // output would keep a reader of it waiting for an end of file.
    int moved = fcntl(readEnd, F_DUPFD, 64);
    if (moved < 0) _exit(70);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    if (dup2(moved, 3) < 0) _exit(70);
    syscall(SYS_close_range, 4U, ~0U, 0U);

    // Block until every write end is closed: the root exited or was killed.
    char byte;
    for (;;) {
        ssize_t count = read(3, &byte, 1);
        if (count == 0) break;
        if (count < 0 && errno != EINTR) break;
    }

    // The segment table outlives the root: this process maps the arena too.
    static const char prefix[] = "/dev/shm/";
    for (int index = 0; index < slotCount; index++) {
        const unsigned char *slot = table + (size_t)index * (size_t)slotSize;
        uint64_t state = __atomic_load_n((const uint64_t *)slot, __ATOMIC_ACQUIRE);
        if (state != 1) continue;
        uint64_t length = *(const uint64_t *)(slot + 16);
        if (length == 0 || length > (uint64_t)(slotSize - 24)) continue;
        char path[sizeof prefix + 256];
        if (length > sizeof path - sizeof prefix) continue;
        memcpy(path, prefix, sizeof prefix - 1);
        int valid = 1;
        for (uint64_t i = 0; i < length; i++) {
            char c = (char)slot[24 + i];
            if (c == '/' || c == 0) { valid = 0; break; }
            path[sizeof prefix - 1 + i] = c;
        }
        if (!valid) continue;
        path[sizeof prefix - 1 + length] = 0;
        unlink(path);
    }
    _exit(0);
}

pid_t mp_tracker_start(const void *table, int slotCount, int slotSize, int *writeEnd) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = _Fork();
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) mp_tracker_run(fds[0], (const unsigned char *)table, slotCount, slotSize);
    close(fds[0]);
    *writeEnd = fds[1];
    return pid;
}
