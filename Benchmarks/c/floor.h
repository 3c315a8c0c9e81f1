/*
 * floor.h: what the C floors (pipe_pingpong.c, pipe_payload.c) share: the clock, whole writes,
 * the 50 us look for bytes before a blocking read (as the Swift side's receive does), reading
 * one frame (a 4-byte big-endian length, then the body) and sorting samples. Static functions:
 * each program is one translation unit, built with `cc -O2` by Benchmarks/run or
 * Benchmarks/plot (which rebuild a floor when its .c file is newer than its binary: touch the
 * .c files after editing this header).
 */
#ifndef MP_BENCH_FLOOR_H
#define MP_BENCH_FLOOR_H
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Writes all `count` bytes (retrying short writes and EINTR); 0, or -1 with errno set. */
static int write_all(int fd, const uint8_t *bytes, size_t count) {
    while (count > 0) {
        ssize_t n = write(fd, bytes, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        bytes += n;
        count -= (size_t)n;
    }
    return 0;
}

/* Looks for bytes on `fd` for up to 50 us (poll with a zero timeout, again and again) before
 * the caller's blocking read: the Swift side's receive does the same (SpinPolicy.window), so
 * a floor does the same work minus the runtime. Without it a floor paid two cross-CPU
 * wake-ups per round trip and measured slower than the Swift side it is a floor of. */
static void spin_until_readable(int fd) {
    struct pollfd entry = { .fd = fd, .events = POLLIN, .revents = 0 };
    double deadline = now_seconds() + 50e-6;
    do {
        if (poll(&entry, 1, 0) != 0) return;
    } while (now_seconds() < deadline);
}

/* Reads one frame: at least the 4-byte length, then the rest of the body (one frame is in
 * flight at a time, so a read may ask for the whole buffer: normally one call). Returns the
 * frame size, 0 on a clean end of stream before a frame started, -1 on error (EMSGSIZE: the
 * body does not fit `capacity`). */
static ssize_t read_frame(int fd, uint8_t *buffer, size_t capacity) {
    size_t have = 0, want = 4;
    while (have < want) {
        spin_until_readable(fd);
        ssize_t n = read(fd, buffer + have, capacity - have);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) {
            if (have == 0) return 0;
            errno = EPIPE;
            return -1;
        }
        have += (size_t)n;
        if (want == 4 && have >= 4) {
            uint32_t length = ((uint32_t)buffer[0] << 24) | ((uint32_t)buffer[1] << 16)
                            | ((uint32_t)buffer[2] << 8) | (uint32_t)buffer[3];
            if (length > capacity - 4) {
                errno = EMSGSIZE;
                return -1;
            }
            want = 4 + length;
        }
    }
    return (ssize_t)have;
}

/* For qsort of samples. */
static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
