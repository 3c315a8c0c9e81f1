// The fork server: see include/mp_fork_server.h. It runs in a constructor of the executable,
// so before Swift's `main` and before any thread: the one place a Swift program can fork
// safely. It forks one child per request, reaps its children and reports each status on the
// status pipe (the children are its own, so only it can collect them). It ends once the
// request socket is closed and its last child is reaped; it dies with the thread that spawned
// it (PR_SET_PDEATHSIG), and its children with it.
#define _GNU_SOURCE
#include "mp_fork_server.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

// The request being served, kept after the fork: the child's environment points into it.
static char request_buffer[MP_FORK_SERVER_MAX_REQUEST];
static char parent_variable[32];

static int thread_count(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks) return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(tasks);
    return count;
}

static void send_int(int socket, int32_t value) {
    while (send(socket, &value, sizeof value, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

static void write_status(int pipe, const mp_fork_status *status) {
    // Records are 12 bytes, below PIPE_BUF: each write is whole.
    while (write(pipe, status, sizeof *status) < 0 && errno == EINTR) {}
}

// Reaps every child that has ended; the rest of its process group is killed first (the
// leader's zombie keeps the group's number from being reused until then).
static int reap_children(int statuses) {
    int reaped = 0;
    for (;;) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
        kill(-info.si_pid, SIGKILL);
        siginfo_t final;
        memset(&final, 0, sizeof final);
        if (waitid(P_PID, (id_t)info.si_pid, &final, WEXITED) != 0) break;
        mp_fork_status status = { final.si_pid, final.si_code, final.si_status };
        write_status(statuses, &status);
        reaped++;
    }
    return reaped;
}

// In the new child: descriptors placed at 0, 1, 2, 3, ... and no others, a clean signal state,
// its own process group, the requested environment. Returns normally: `main` runs next.
static void become_child(const int *descriptors, int count, char *environment, uint32_t environment_bytes, pid_t server) {
    // Dies with the server, as a spawned child dies with its spawner (bootstrap checks again).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != server) _exit(74);   // ChildExitCode.orphaned
    int moved[MP_FORK_SERVER_MAX_DESCRIPTORS];
    for (int i = 0; i < count; i++) {
        moved[i] = fcntl(descriptors[i], F_DUPFD, count + 8);
        if (moved[i] < 0) _exit(127);
    }
    for (int i = 0; i < count; i++) {
        if (dup2(moved[i], i) < 0) _exit(127);
    }
    syscall(SYS_close_range, (unsigned int)count, ~0U, 0);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal == SIGKILL || signal == SIGSTOP) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        sigaction(signal, &action, NULL);
    }
    setpgid(0, 0);

    clearenv();
    for (uint32_t at = 0; at < environment_bytes;) {
        char *entry = environment + at;
        size_t length = strnlen(entry, environment_bytes - at);
        if (length > 0 && strchr(entry, '=')) putenv(entry);
        at += (uint32_t)length + 1;
    }
    // The child checks that its parent is still the one named here: the server.
    snprintf(parent_variable, sizeof parent_variable, "MP_PARENT_PID=%d", (int)getppid());
    putenv(parent_variable);
}

// Receives one request; forks. Returns 1 in the child, 0 in the server, -1 at end of stream.
static int serve_request(int requests, int *children) {
    union {
        char buffer[CMSG_SPACE(sizeof(int) * MP_FORK_SERVER_MAX_DESCRIPTORS)];
        struct cmsghdr align;
    } control;
    struct iovec part = { request_buffer, sizeof request_buffer };
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = sizeof control.buffer;
    ssize_t received;
    do { received = recvmsg(requests, &message, MSG_CMSG_CLOEXEC); } while (received < 0 && errno == EINTR);
    if (received <= 0) return -1;

    int descriptors[MP_FORK_SERVER_MAX_DESCRIPTORS];
    int count = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n && count < MP_FORK_SERVER_MAX_DESCRIPTORS; i++) {
            memcpy(&descriptors[count++], CMSG_DATA(header) + i * sizeof(int), sizeof(int));
        }
    }
    mp_fork_request request;
    int valid = received >= (ssize_t)sizeof request && !(message.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
    if (valid) {
        memcpy(&request, request_buffer, sizeof request);
        valid = request.magic == MP_FORK_SERVER_MAGIC && request.descriptor_count == (uint32_t)count
             && request.environment_bytes == (uint32_t)(received - (ssize_t)sizeof request);
    }
    if (!valid) {
        for (int i = 0; i < count; i++) close(descriptors[i]);
        send_int(requests, -EINVAL);
        return 0;
    }
    pid_t server = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        become_child(descriptors, count, request_buffer + sizeof request, request.environment_bytes, server);
        return 1;
    }
    int error = errno;
    for (int i = 0; i < count; i++) close(descriptors[i]);
    if (pid < 0) {
        send_int(requests, -error);
        return 0;
    }
    setpgid(pid, pid);   // before the answer, so the spawner can signal the group at once
    (*children)++;
    send_int(requests, pid);
    return 0;
}

__attribute__((constructor))
static void mp_fork_server_main(void) {
    const char *flag = getenv(MP_FORK_SERVER_VARIABLE);
    if (!flag || strcmp(flag, "1") != 0) return;
    unsetenv(MP_FORK_SERVER_VARIABLE);
    int requests = MP_FORK_SERVER_REQUESTS, statuses = MP_FORK_SERVER_STATUSES;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const char *parent = getenv("MP_PARENT_PID");
    if (parent && atoi(parent) != (int)getppid()) _exit(0);
    if (thread_count() != 1) {
        send_int(requests, MP_FORK_SERVER_REFUSED);
        _exit(0);
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t children_signal;
    sigemptyset(&children_signal);
    sigaddset(&children_signal, SIGCHLD);
    sigprocmask(SIG_BLOCK, &children_signal, NULL);
    int child_events = signalfd(-1, &children_signal, SFD_CLOEXEC | SFD_NONBLOCK);
    if (child_events < 0) {
        send_int(requests, MP_FORK_SERVER_REFUSED);
        _exit(0);
    }
    send_int(requests, MP_FORK_SERVER_READY);

    int children = 0, open = 1;
    while (open || children > 0) {
        struct pollfd watched[2] = {
            { child_events, POLLIN, 0 },
            { open ? requests : -1, POLLIN, 0 },
        };
        if (poll(watched, 2, -1) < 0) {
            if (errno == EINTR) continue;
            _exit(70);
        }
        if (watched[0].revents) {
            struct signalfd_siginfo drained[16];
            while (read(child_events, drained, sizeof drained) > 0) {}
            children -= reap_children(statuses);
        }
        if (open && watched[1].revents) {
            int outcome = serve_request(requests, &children);
            if (outcome == 1) return;   // the child: on to main
            if (outcome < 0) {
                open = 0;
                close(requests);
            }
        }
    }
    _exit(0);
}

int mp_fork_server_send(int socket, const mp_fork_request *header, const char *environment,
                        const int *descriptors, int descriptor_count) {
    if (descriptor_count < 0 || descriptor_count > MP_FORK_SERVER_MAX_DESCRIPTORS) {
        errno = EINVAL;
        return -1;
    }
    union {
        char buffer[CMSG_SPACE(sizeof(int) * MP_FORK_SERVER_MAX_DESCRIPTORS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec parts[2] = {
        { (void *)header, sizeof *header },
        { (void *)environment, header->environment_bytes },
    };
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = parts;
    message.msg_iovlen = header->environment_bytes > 0 ? 2 : 1;
    if (descriptor_count > 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)descriptor_count);
        struct cmsghdr *rights = CMSG_FIRSTHDR(&message);
        rights->cmsg_level = SOL_SOCKET;
        rights->cmsg_type = SCM_RIGHTS;
        rights->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)descriptor_count);
        memcpy(CMSG_DATA(rights), descriptors, sizeof(int) * (size_t)descriptor_count);
    }
    ssize_t sent;
    do { sent = sendmsg(socket, &message, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent < 0 ? -1 : 0;
}
