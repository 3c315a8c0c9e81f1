#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// How a process ended.
public enum TerminationStatus: Hashable, Sendable, CustomStringConvertible {
    /// It called `exit(code)` or returned `code` from `main` (0 to 255). By the shells'
    /// convention 127 means "command not found" and 126 "not executable": a child that
    /// failed to `exec` (for example through `/bin/sh -c`) reports that way.
    case exited(Int32)
    /// A signal ended it (whether or not it dumped core).
    case signaled(Signal)
    /// It ended, but something else in this process collected its status first (a
    /// `waitpid(-1)` elsewhere, or `SIGCHLD` set to `SIG_IGN`), so how is not known.
    case unknown
    /// A remote worker whose connection ended without its goodbye (closed, reset, or silent
    /// past its liveness limits): it may still run on its host, but it is gone for this one.
    case disconnected

    /// Whether it exited with code 0.
    public var isSuccess: Bool { self == .exited(0) }

    /// "exited with code 3", "killed by SIGKILL".
    public var description: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): "killed by \(signal)"
        case .unknown: "ended (its status was collected elsewhere in this process)"
        case .disconnected: "disconnected (its connection ended without its goodbye)"
        }
    }

    /// Decodes a `waitpid` status word. The corresponding C macros are `WIFEXITED`,
    /// `WEXITSTATUS`, `WIFSIGNALED` and `WTERMSIG`.
    init?(waitStatus status: Int32) {
        if mp_wifexited(status) != 0 {
            self = .exited(mp_wexitstatus(status))
        } else if mp_wifsignaled(status) != 0 {
            self = .signaled(Signal(rawValue: mp_wtermsig(status)))
        } else {
            return nil
        }
    }
}

/// A child process held through a pidfd: a descriptor that names one process and cannot be
/// confused with a later process given the same pid.
///
/// Not owning, like ``FileDescriptor``: whoever got it from ``open(pid:)`` closes it once with
/// ``close()``. Closing it does not affect the process. Every signal goes through the
/// descriptor (never a bare pid), and the exit status is collected through it with
/// `waitid(P_PIDFD)`, which also reaps the zombie. The status can be collected once: later
/// waits fail with `ECHILD`, so the layer above keeps it.
///
/// Opening right after `posix_spawn` is race-free as long as nothing else in the process reaps
/// children (`waitpid(-1)`, `SIGCHLD` set to `SIG_IGN`): until reaped, the pid stays a zombie
/// and cannot be reused.
struct PidFD: Hashable, Sendable, CustomStringConvertible {
    /// The pidfd.
    var descriptor: FileDescriptor
    /// The process id it was opened for (for messages and `/proc`; never signal by it).
    var pid: pid_t

    var description: String { "pid \(pid) (pidfd \(descriptor.rawValue))" }

    static func _open(pid: pid_t) -> Result<PidFD, Errno> {
        valueOrErrno { mp_pidfd_open(pid, 0) }.map { PidFD(descriptor: FileDescriptor(rawValue: $0), pid: pid) }
    }

    /// A pidfd for the process `pid`, close-on-exec. The caller owns it; nothing is open on
    /// failure (`ESRCH`: no such process). The corresponding C function is `pidfd_open`
    /// (through `syscall`, as glibc before 2.36 has no wrapper).
    static func open(pid: pid_t) throws(SystemError) -> PidFD {
        try _open(pid: pid).get("pidfd_open", .pid(pid))
    }

    func _sendSignal(_ signal: Signal) -> Result<Void, Errno> {
        nothingOrErrno { mp_pidfd_send_signal(descriptor.rawValue, signal.rawValue, 0) }
    }

    /// Sends `signal` to the process; returns `false` when it has already been reaped (`ESRCH`).
    /// A process that exited but is not yet reaped takes the signal silently.
    /// The corresponding C function is `pidfd_send_signal`.
    @discardableResult
    func sendSignal(_ signal: Signal) throws(SystemError) -> Bool {
        switch _sendSignal(signal) {
        case .success: return true
        case .failure(.noSuchProcess): return false
        case .failure(let error): throw SystemError(error, operation: "pidfd_send_signal", subject: .pid(pid))
        }
    }

    /// Sends `SIGKILL`; `false` when already reaped. The corresponding C function is
    /// `pidfd_send_signal`.
    @discardableResult
    func kill() throws(SystemError) -> Bool { try sendSignal(.kill) }

    /// Sends `SIGTERM`; `false` when already reaped. The corresponding C function is
    /// `pidfd_send_signal`.
    @discardableResult
    func terminate() throws(SystemError) -> Bool { try sendSignal(.terminate) }

    /// Collects the exit status, reaping the process. With `block` false returns `nil` at once
    /// if it is still running.
    func _wait(block: Bool) -> Result<TerminationStatus?, Errno> {
        var code: Int32 = 0
        var status: Int32 = 0
        return valueOrErrno { mp_waitid_pidfd(descriptor.rawValue, WEXITED | (block ? 0 : WNOHANG), &code, &status) }
            .map { childPID in
                if childPID == 0 { return nil }
                switch code {
                case MP_CLD_EXITED: return .exited(status)
                default: return .signaled(Signal(rawValue: status))
                }
            }
    }

    /// Blocks until the process exits, then reaps it and returns how it ended. Fails with
    /// `ECHILD` if the status was already collected or the process is not our child.
    /// The corresponding C function is `waitid(P_PIDFD, WEXITED)`.
    func waitForExit() throws(SystemError) -> TerminationStatus {
        try _wait(block: true).get("waitid", .pid(pid))!
    }

    /// Reaps the process and returns how it ended if it has exited, else `nil` at once.
    /// The corresponding C function is `waitid(P_PIDFD, WEXITED | WNOHANG)`.
    func exitStatusIfExited() throws(SystemError) -> TerminationStatus? {
        try _wait(block: false).get("waitid", .pid(pid))
    }

    /// Waits up to `timeout` for the process to exit (the pidfd turns readable), then reaps
    /// it; `nil` if it is still running. `nil` timeout waits without limit.
    /// The corresponding C functions are `poll` and `waitid(P_PIDFD, WEXITED | WNOHANG)`.
    func waitForExit(timeout: Duration?) throws(SystemError) -> TerminationStatus? {
        guard try descriptor.waitUntilReadable(timeout: timeout) else { return nil }
        return try exitStatusIfExited()
    }

    /// Closes the pidfd; the process is not affected (an unreaped one stays a zombie until
    /// someone waits for it). The corresponding C function is `close`.
    func close() throws(SystemError) { try descriptor.close() }
}

/// Facts about, and settings of, the calling process.
enum ProcessControl {
    /// This process's id. The corresponding C function is `getpid`.
    static var id: pid_t { getpid() }

    /// The parent's id; 1 (or a subreaper's id) once the parent died. A child that sets a
    /// parent-death signal checks this right after, as the parent may be gone already.
    /// The corresponding C function is `getppid`.
    static var parentID: pid_t { getppid() }

    /// The process group of `pid` (0: this process). The corresponding C function is `getpgid`.
    static func processGroup(of pid: pid_t = 0) throws(SystemError) -> pid_t {
        try valueOrErrno { getpgid(pid) }.get("getpgid", .pid(pid))
    }

    /// Asks the kernel to send `signal` to this process when the *thread* that spawned it
    /// exits (so spawn from one long-lived thread). It survives `execve`. `nil` clears it.
    /// The corresponding C function is `prctl(PR_SET_PDEATHSIG)`.
    static func setParentDeathSignal(_ signal: Signal?) throws(SystemError) {
        try nothingOrErrno { mp_prctl_set_pdeathsig(signal?.rawValue ?? 0) }.get("prctl(PR_SET_PDEATHSIG)")
    }

    /// The signal set by ``setParentDeathSignal(_:)``, if any.
    /// The corresponding C function is `prctl(PR_GET_PDEATHSIG)`.
    static func parentDeathSignal() throws(SystemError) -> Signal? {
        var signal: Int32 = 0
        try nothingOrErrno { mp_prctl_get_pdeathsig(&signal) }.get("prctl(PR_GET_PDEATHSIG)")
        return signal == 0 ? nil : Signal(rawValue: signal)
    }

    /// Makes this process a subreaper: orphaned descendants are reparented to it instead of
    /// PID 1 (which, on some machines, never reaps them). The corresponding C function is
    /// `prctl(PR_SET_CHILD_SUBREAPER)`.
    static func setChildSubreaper(_ on: Bool) throws(SystemError) {
        try nothingOrErrno { mp_prctl_set_child_subreaper(on ? 1 : 0) }.get("prctl(PR_SET_CHILD_SUBREAPER)")
    }

    /// Whether this process is a subreaper. The corresponding C function is
    /// `prctl(PR_GET_CHILD_SUBREAPER)`.
    static func isChildSubreaper() throws(SystemError) -> Bool {
        var on: Int32 = 0
        try nothingOrErrno { mp_prctl_get_child_subreaper(&on) }.get("prctl(PR_GET_CHILD_SUBREAPER)")
        return on != 0
    }

    /// The number of CPUs this process may run on (its affinity mask), at least 1.
    /// The corresponding C functions are `sched_getaffinity` and `sysconf`.
    static var cpuCount: Int { Int(mp_cpu_count()) }

    /// The path of the running executable (in `swift test`, the test bundle).
    /// The corresponding C function is `readlink("/proc/self/exe")`.
    static func currentExecutablePath() throws(SystemError) -> String {
        try readSymbolicLink("/proc/self/exe").get("readlink", .path("/proc/self/exe"))
    }

    /// Reaps one exited child that nobody holds a pidfd for (an orphan reparented to this
    /// subreaper), or any child if `pid` is -1; `nil` if none has exited (`WNOHANG`) or there
    /// is no child (`ECHILD`). Never call it with -1 while children are held through
    /// ``PidFD``: it would steal their status. The corresponding C function is `waitpid`.
    static func reapChild(_ pid: pid_t = -1) throws(SystemError) -> (pid: pid_t, status: TerminationStatus)? {
        var status: Int32 = 0
        switch valueOrErrno({ waitpid(pid, &status, WNOHANG) }) {
        case .success(0), .failure(.noChildProcess): return nil
        case .success(let reaped): return TerminationStatus(waitStatus: status).map { (reaped, $0) }
        case .failure(let error): throw SystemError(error, operation: "waitpid", subject: .pid(pid))
        }
    }

    /// A process as `/proc/PID/stat` shows it.
    struct Status: Hashable, Sendable {
        var pid: pid_t
        /// The state letter: R running, S sleeping, Z zombie, ...
        var state: Character
        var parentID: pid_t
        var processGroup: pid_t
        var isZombie: Bool { state == "Z" }
    }

    /// The state, parent and group of `pid` from `/proc/PID/stat`; `nil` if there is no such
    /// process. For tests (zombie and orphan checks). The corresponding C functions are
    /// `open` and `read`.
    static func status(of pid: pid_t) -> Status? {
        guard case .success(let fd) = FileDescriptor._open("/proc/\(pid)/stat", O_RDONLY) else { return nil }
        defer { _ = fd._close() }
        guard let bytes = try? fd.readToEnd(limit: 1 << 16) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses; cut at the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 3, let state = fields[0].first,
              let parent = pid_t(fields[1]), let group = pid_t(fields[2]) else { return nil }
        return Status(pid: pid, state: state, parentID: parent, processGroup: group)
    }

    /// Every process whose parent is this process, from `/proc`. For tests: zombies among them
    /// are children nobody reaped. The corresponding C functions are `opendir` and `readdir`.
    static func children() throws(SystemError) -> [Status] {
        guard let directory = opendir("/proc") else { throw SystemError(.current, operation: "opendir", subject: .path("/proc")) }
        defer { closedir(directory) }
        let me = getpid()
        var result: [Status] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = pid_t(name), let status = status(of: pid), status.parentID == me {
                result.append(status)
            }
        }
        return result
    }
}
