/*
 * pipe_payload: the raw C floor for the payload sweep (`scale_payload_roundtrip_<BYTES>`,
 * Benchmarks/plot): pipe_pingpong.c's round trip with a body of any size.
 *
 *   pipe_payload --bytes N [--quick] [--samples N] [--sample-seconds S]
 *
 * Two processes (fork) ping-pong one message over two pipes: the parent writes a frame
 * (4-byte big-endian length + N bytes of body), the child reads the whole frame (as the Swift
 * and Python children receive a whole message before they echo it) and writes it back, the
 * parent reads the whole reply (each read looks for bytes for up to 50 us first, as the Swift
 * side does: floor.h, shared with pipe_pingpong.c). One operation = one round trip. The first reply is compared
 * byte for byte, later ones by length only (the Swift and Python sides do not compare either).
 * Timing as in pipe_pingpong.c: warm-up while the batch is calibrated (doubling until one
 * batch takes 20 ms), then 7 samples of about 0.3 s (--quick: 5 of 0.1 s), median in
 * microseconds per round trip, printed as one JSON line:
 *
 *   {"side":"c","name":"scale_payload_roundtrip_N","unit":"us","median":..,"samples":[..],
 *    "info":{"bytes":"N","round_trips_per_sample":".."}}
 *
 * On an error it prints {"side":"c","name":..,"error":..} and exits 1.
 *
 * Build: cc -O2 -o .build/bench-c/pipe_payload Benchmarks/c/pipe_payload.c
 * (Benchmarks/plot does this on demand.)
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include <sys/prctl.h>
#endif

#define MAX_SAMPLES 1000
#define MAX_BYTES (64L << 20)

static pid_t child_pid = -1;
static long body_bytes = -1;

static void fail(const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    for (char *c = message; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = ' ';
    printf("{\"side\":\"c\",\"name\":\"scale_payload_roundtrip_%ld\",\"error\":\"%s\"}\n", body_bytes, message);
    fflush(stdout);
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
    }
    exit(1);
}

/* The child: echo every frame back until the parent closes its end. */
static void echo(int in, int out, uint8_t *buffer, size_t capacity) {
    for (;;) {
        ssize_t n = read_frame(in, buffer, capacity);
        if (n == 0) _exit(0);
        if (n < 0 || write_all(out, buffer, (size_t)n) < 0) _exit(3);
    }
}

static int to_child, from_child;
static uint8_t *frame, *reply;
static size_t frame_bytes;

static double round_trips(long count) {
    double start = now_seconds();
    for (long i = 0; i < count; i++) {
        if (write_all(to_child, frame, frame_bytes) < 0) fail("write to the child: %s", strerror(errno));
        ssize_t n = read_frame(from_child, reply, frame_bytes);
        if (n <= 0) fail("read from the child: %s", n == 0 ? "end of stream" : strerror(errno));
        if ((size_t)n != frame_bytes) fail("the reply has %zd bytes, not %zu", n, frame_bytes);
    }
    return now_seconds() - start;
}

static void usage(void) {
    fprintf(stderr, "usage: pipe_payload --bytes N [--quick] [--samples N] [--sample-seconds S]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int samples = 7;
    double sample_seconds = 0.3, warmup_seconds = 0.2;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--quick") == 0) {
            samples = 5;
            sample_seconds = 0.1;
            warmup_seconds = 0.05;
        } else if (strcmp(arg, "--bytes") == 0 && i + 1 < argc) {
            body_bytes = atol(argv[++i]);
            if (body_bytes < 0 || body_bytes > MAX_BYTES) usage();
        } else if (strcmp(arg, "--samples") == 0 && i + 1 < argc) {
            samples = atoi(argv[++i]);
            if (samples < 1 || samples > MAX_SAMPLES) usage();
        } else if (strcmp(arg, "--sample-seconds") == 0 && i + 1 < argc) {
            sample_seconds = atof(argv[++i]);
            if (!(sample_seconds > 0)) usage();
        } else {
            usage();
        }
    }
    if (body_bytes < 0) usage();

    signal(SIGPIPE, SIG_IGN); /* a dead child shows up as EPIPE, not a signal */
    frame_bytes = 4 + (size_t)body_bytes;
    frame = malloc(frame_bytes);
    reply = malloc(frame_bytes);
    if (!frame || !reply) fail("out of memory for %zu bytes", frame_bytes);
    frame[0] = (uint8_t)(body_bytes >> 24), frame[1] = (uint8_t)(body_bytes >> 16);
    frame[2] = (uint8_t)(body_bytes >> 8), frame[3] = (uint8_t)body_bytes;
    for (long i = 0; i < body_bytes; i++) frame[4 + i] = (uint8_t)(i % 251);

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
        echo(down[0], up[1], reply, frame_bytes); /* the child's own copy of the buffer */
    }
    close(down[0]);
    close(up[1]);
    to_child = down[1];
    from_child = up[0];

    round_trips(1);
    if (memcmp(reply, frame, frame_bytes) != 0) fail("the echo differs from the message");

    long count = 1;
    double spent = 0, per_round_trip = 1e30;
    for (;;) {
        double seconds = round_trips(count);
        spent += seconds;
        if (seconds / count < per_round_trip) per_round_trip = seconds / count;
        if (seconds >= 0.02 && spent >= warmup_seconds) break;
        if (seconds < 0.02) count *= 2;
    }
    long per_sample = (long)(sample_seconds / per_round_trip + 0.5);
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

    printf("{\"side\":\"c\",\"name\":\"scale_payload_roundtrip_%ld\",\"unit\":\"us\",\"median\":%.6g,\"samples\":[",
           body_bytes, median);
    for (int s = 0; s < samples; s++) printf("%s%.6g", s ? "," : "", values[s]);
    printf("],\"info\":{\"bytes\":\"%ld\",\"round_trips_per_sample\":\"%ld\"}}\n", body_bytes, per_sample);
    return 0;
}
