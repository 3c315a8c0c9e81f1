#ifndef MP_FORK_SERVER_H
#define MP_FORK_SERVER_H
#include <stdint.h>

// The fork server (Sources/CShims/mp_fork_server.c; the Swift side is
// Sources/Multiprocessing/System/ForkServer.swift). A process started with
// MP_FORK_SERVER=1 in its environment becomes the server in a constructor, before `main` and
// before any thread exists; each child it forks returns from that constructor and runs `main`
// as a child started with posix_spawn would, without exec, the dynamic loader or relocations.

/// The environment variable that makes a process the server.
#define MP_FORK_SERVER_VARIABLE "MP_FORK_SERVER"
/// The server's request socket (SOCK_SEQPACKET) and status pipe, as placed by its spawner.
#define MP_FORK_SERVER_REQUESTS 3
#define MP_FORK_SERVER_STATUSES 4
/// The most descriptors one request places (0, 1, 2, 3, ...).
#define MP_FORK_SERVER_MAX_DESCRIPTORS 64
/// The largest request (header and environment).
#define MP_FORK_SERVER_MAX_REQUEST (256 * 1024)
/// "MPFS": the first field of every request.
#define MP_FORK_SERVER_MAGIC 0x4d504653u

/// A request: `descriptor_count` descriptors arrive as SCM_RIGHTS and go to 0, 1, 2, 3, ... in
/// order; `environment_bytes` of "NAME=value\0" strings follow the header (the child's whole
/// environment). The answer is one int32: the child's pid, or -errno.
typedef struct {
    uint32_t magic;
    uint32_t descriptor_count;
    uint32_t environment_bytes;
    uint32_t reserved;
} mp_fork_request;

/// What the server writes on its status pipe for each child it reaped (what waitid said).
typedef struct {
    int32_t pid;
    int32_t code;    // CLD_EXITED, CLD_KILLED, CLD_DUMPED
    int32_t status;  // the exit code or the signal
} mp_fork_status;

/// The server's first message on the request socket: 0 ready, or -1 when it found another
/// thread in its process (it then exits: forking is only safe with one).
#define MP_FORK_SERVER_READY 0
#define MP_FORK_SERVER_REFUSED (-1)

/// Sends one request: `header` and `environment` as one message, `descriptors` as SCM_RIGHTS.
/// Returns 0, or -1 with errno set.
int mp_fork_server_send(int socket, const mp_fork_request *header, const char *environment,
                        const int *descriptors, int descriptor_count);

#endif
