/*
 * pipe_pingpong: the raw C floor for the `pipe_roundtrip` benchmark.
 *
 *   pipe_pingpong [--quick] [--samples N] [--sample-seconds S] [--round-trips N] [--cpus A,B]
 *
 * Two processes (fork) ping-pong one small message over two pipes: the parent writes a frame
 * (4-byte big-endian length + 32-byte body, 36 bytes, one write), the child reads it exactly
 * (read until the whole frame is in, normally one read; each read looks for bytes for up to
 * 50 us before it blocks, as the Swift side's receive does) and writes the same 36 bytes back,
 * the parent reads the reply exactly and checks it. One operation = one round trip. Like the
 * Python and Swift harnesses: an untimed warm-up while the batch size is calibrated (doubling
 * until one batch takes at least 20 ms), then N samples of about S seconds each (7 x 0.3 s,
 * --quick 5 x 0.1 s), and the median in microseconds per round trip, printed as one JSON line:
 *
 *   {"side":"c","name":"pipe_roundtrip_c_floor","unit":"us","median":..,"samples":[..],
 *    "info":{"cpus":"none","message_bytes":"36","round_trips_per_sample":".."}}
 *
 * --cpus A,B pins the parent to CPU A and the child to CPU B (sched_setaffinity, Linux);
 * A == B puts both on one core. Default: no pinning. --round-trips N fixes the batch size
 * (no calibration). On an error it prints {"side":"c","name":..,"error":..} and exits 1.
 *
 * Build: cc -O2 -o .build/bench-c/pipe_pingpong Benchmarks/c/pipe_pingpong.c
 * (Benchmarks/run does this on demand.) Shared with pipe_payload.c: floor.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "floor.h"
#ifdef __linux__
#include <sched.h>
#include <sys/prctl.h>
#endif

#define NAME "pipe_roundtrip_c_floor"
#define BODY_BYTES 32
#define FRAME_BYTES (4 + BODY_BYTES)
#define MAX_SAMPLES 1000

static pid_t child_pid = -1;

static void fail(const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    for (char *c = message; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = ' ';
    printf("{\"side\":\"c\",\"name\":\"" NAME "\",\"error\":\"%s\"}\n", message);
    fflush(stdout);
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
    }
    exit(1);
}

/* A failed read or write: say why the child is gone if it is. */
static void fail_io(const char *what, const char *reason) {
    int status;
    if (child_pid > 0 && waitpid(child_pid, &status, WNOHANG) == child_pid) {
        child_pid = -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 5) fail("%s: the child could not pin itself to its CPU", what);
        fail("%s: %s (the child ended with status %d)", what, reason, status);
    }
    fail("%s: %s", what, reason);
}

static int pin_to(int cpu) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
#else
    (void)cpu;
    errno = ENOSYS;
    return -1;
#endif
}

/* The child: echo every frame back until the parent closes its end. */
static void echo(int in, int out) {
    uint8_t buffer[256];
    for (;;) {
        ssize_t n = read_frame(in, buffer, sizeof buffer);
        if (n == 0) _exit(0);
        if (n < 0 || write_all(out, buffer, (size_t)n) < 0) _exit(3);
    }
}

static int to_child, from_child;
static uint8_t frame[FRAME_BYTES];

/* `count` round trips; the body carries a sequence number that the reply must echo. */
static double round_trips(long count) {
    static uint32_t sequence;
    uint8_t reply[256];
    double start = now_seconds();
    for (long i = 0; i < count; i++) {
        sequence++;
        memcpy(frame + 4, &sequence, sizeof sequence);
        if (write_all(to_child, frame, FRAME_BYTES) < 0) fail_io("write to the child", strerror(errno));
        ssize_t n = read_frame(from_child, reply, sizeof reply);
        if (n <= 0) fail_io("read from the child", n == 0 ? "end of stream" : strerror(errno));
        if (n != FRAME_BYTES || memcmp(reply, frame, FRAME_BYTES) != 0) fail("the reply differs from the request");
    }
    return now_seconds() - start;
}

static void usage(void) {
    fprintf(stderr, "usage: pipe_pingpong [--quick] [--samples N] [--sample-seconds S] "
                    "[--round-trips N] [--cpus A,B]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int samples = 7;
    double sample_seconds = 0.3, warmup_seconds = 0.2;
    long fixed_round_trips = 0;
    int cpu_parent = -1, cpu_child = -1;
    char cpus_text[64] = "none";

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--quick") == 0) {
            samples = 5;
            sample_seconds = 0.1;
            warmup_seconds = 0.05;
        } else if (strcmp(arg, "--samples") == 0 && i + 1 < argc) {
            samples = atoi(argv[++i]);
            if (samples < 1 || samples > MAX_SAMPLES) usage();
        } else if (strcmp(arg, "--sample-seconds") == 0 && i + 1 < argc) {
            sample_seconds = atof(argv[++i]);
            if (!(sample_seconds > 0)) usage();
        } else if (strcmp(arg, "--round-trips") == 0 && i + 1 < argc) {
            fixed_round_trips = atol(argv[++i]);
            if (fixed_round_trips < 1) usage();
        } else if (strcmp(arg, "--cpus") == 0 && i + 1 < argc) {
            const char *value = argv[++i];
            char tail;
            if (sscanf(value, "%d,%d%c", &cpu_parent, &cpu_child, &tail) != 2 || cpu_parent < 0 || cpu_child < 0)
                usage();
            snprintf(cpus_text, sizeof cpus_text, "%d,%d", cpu_parent, cpu_child);
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage();
        } else {
            usage();
        }
    }

    signal(SIGPIPE, SIG_IGN); /* a dead child shows up as EPIPE, not a signal */
#ifdef __linux__
    if (cpu_parent >= 0) {
        cpu_set_t allowed;
        if (sched_getaffinity(0, sizeof allowed, &allowed) < 0) fail("sched_getaffinity: %s", strerror(errno));
        if (cpu_parent >= CPU_SETSIZE || !CPU_ISSET(cpu_parent, &allowed)
            || cpu_child >= CPU_SETSIZE || !CPU_ISSET(cpu_child, &allowed))
            fail("--cpus %s: CPUs this process may use: %d of them (see nproc)", cpus_text, CPU_COUNT(&allowed));
    }
#else
    if (cpu_parent >= 0) fail("--cpus needs Linux (sched_setaffinity)");
#endif

    int down[2], up[2];
    if (pipe(down) < 0 || pipe(up) < 0) fail("pipe: %s", strerror(errno));
    pid_t parent = getpid();
    child_pid = fork();
    if (child_pid < 0) fail("fork: %s", strerror(errno));
    if (child_pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the parent */
        if (getppid() != parent) _exit(4);
#endif
        close(down[1]);
        close(up[0]);
        if (cpu_child >= 0 && pin_to(cpu_child) < 0) _exit(5);
        echo(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    to_child = down[1];
    from_child = up[0];
    if (cpu_parent >= 0 && pin_to(cpu_parent) < 0) fail("pin the parent to CPU %d: %s", cpu_parent, strerror(errno));

    frame[0] = 0, frame[1] = 0, frame[2] = 0, frame[3] = BODY_BYTES;
    for (int i = 4; i < FRAME_BYTES; i++) frame[i] = (uint8_t)('a' + i % 26);

    /* Warm-up and calibration, as in Benchmarks/python/harness.py. The first round trip also
     * tells whether the child came up (and pinned itself). */
    long count = 1;
    double spent = 0, per_round_trip = 1e30;
    for (;;) {
        double seconds = round_trips(count);
        spent += seconds;
        if (seconds / count < per_round_trip) per_round_trip = seconds / count;
        if (fixed_round_trips > 0 || (seconds >= 0.02 && spent >= warmup_seconds)) break;
        if (seconds < 0.02) count *= 2;
    }
    long per_sample = fixed_round_trips > 0 ? fixed_round_trips : (long)(sample_seconds / per_round_trip + 0.5);
    if (per_sample < 1) per_sample = 1;

    double values[MAX_SAMPLES], sorted[MAX_SAMPLES];
    for (int s = 0; s < samples; s++) values[s] = round_trips(per_sample) * 1e6 / (double)per_sample;

    close(to_child); /* the child reads end of stream and exits */
    int status = 0;
    if (waitpid(child_pid, &status, 0) < 0) fail("waitpid: %s", strerror(errno));
    child_pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child ended with status %d", status);

    memcpy(sorted, values, sizeof(double) * (size_t)samples);
    qsort(sorted, (size_t)samples, sizeof(double), compare_doubles);
    double median = samples % 2 ? sorted[samples / 2] : (sorted[samples / 2 - 1] + sorted[samples / 2]) / 2;

    printf("{\"side\":\"c\",\"name\":\"" NAME "\",\"unit\":\"us\",\"median\":%.6g,\"samples\":[", median);
    for (int s = 0; s < samples; s++) printf("%s%.6g", s ? "," : "", values[s]);
    printf("],\"info\":{\"cpus\":\"%s\",\"message_bytes\":\"%d\",\"round_trips_per_sample\":\"%ld\"}}\n",
           cpus_text, FRAME_BYTES, per_sample);
    return 0;
}
