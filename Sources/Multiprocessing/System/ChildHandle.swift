#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims
import Synchronization

/// A spawned child that leads its own process group, held through a pidfd this object owns.
///
/// The pidfd's number lives behind a lock with the facts "reaped" and "closed": a signal, the
/// reap and the close are serialized, so a signal sent after ``close()`` (or after the reap)
/// does nothing and returns `false`, and never reaches a descriptor number that another
/// `open` has reused since.
///
/// Signals go to the child through its pidfd and to its whole process group (pgid = its pid)
/// with `kill(-pgid)`, so what the child started (a shell's background `sleep`) gets them
/// too. A group's number is safe to signal only while it cannot name a stranger's group: the
/// kernel does not reuse a pid while a process, zombie or not, still has it, so the group is
/// signalled only until the leader is reaped. At the leader's death (``reapIfExited()``, its
/// zombie still pinning the number) the rest of the group is killed, then the leader reaped:
/// nothing the child started outlives it. See docs/ARCHITECTURE.md.
///
/// A child forked by a ``ForkServer`` is the server's, not ours: the server kills the rest of
/// its group and reaps it, and ``reapIfExited()`` takes the status the server reported. Its
/// group is signalled only while its pidfd says it runs (its leader is not reaped yet).
final class ChildHandle: Sendable, CustomStringConvertible {
    /// The child's pid, which is also its process group's id.
    let pid: pid_t
    private struct State {
        var descriptor: FileDescriptor?
        var reaped = false
    }
    private let state: Mutex<State>

    /// Takes ownership of `pidfd`, whose process leads its own group.
    /// The fork server whose child this is, or nil for a child of this process.
    let forkServer: ForkServer?

    init(_ pidfd: PidFD, forkServer: ForkServer? = nil) {
        pid = pidfd.pid
        self.forkServer = forkServer
        state = Mutex(State(descriptor: pidfd.descriptor))
    }

    var description: String { "pid \(pid)" }

    /// The pidfd's number for `poll` (readable once the child exited); nil once closed.
    /// Only the reaper polls it, and the handle is closed only after the reaper is done.
    var pollDescriptor: FileDescriptor? { state.withLock { $0.descriptor } }

    /// Sends `signal` to the child and to every process in its group; `false` when the child
    /// was reaped already or the handle is closed (nothing is sent then).
    /// The corresponding C functions are `pidfd_send_signal` and `kill(-pgid)`.
    @discardableResult
    func send(_ signal: Signal) -> Bool {
        state.withLock { state in
            guard let descriptor = state.descriptor, !state.reaped else { return false }
            let sent = PidFD(descriptor: descriptor, pid: pid)._sendSignal(signal)
            if forkServer != nil, (try? descriptor.waitUntilReadable(timeout: .zero)) != false {
                if case .success = sent { return true }   // exited: the server may have reaped it, the group's number is free
                return false
            }
            // The leader is not reaped (we hold the lock the reap takes), so the group's
            // number is still its own; a leader that left its group is reached by the pidfd.
            _ = nothingOrErrno { Glibc.kill(-pid, signal.rawValue) }
            if case .success = sent { return true }
            return false
        }
    }

    /// If the child exited: kills what is left of its group, reaps the child and returns how
    /// it ended; `nil` if it is still running (a spurious wake-up). Throws `ECHILD` when
    /// something else in the process reaped it first, `EBADF` once closed.
    /// The corresponding C functions are `waitid(P_PIDFD, WNOWAIT)`, `kill(-pgid, SIGKILL)`
    /// and `waitid(P_PIDFD)`.
    func reapIfExited() throws(SystemError) -> TerminationStatus? {
        try state.withLock { (state) throws(SystemError) -> TerminationStatus? in
            guard let descriptor = state.descriptor, !state.reaped else {
                throw SystemError(Errno.badFileDescriptor, operation: "waitid", subject: .pid(pid))
            }
            let pidfd = PidFD(descriptor: descriptor, pid: pid)
            if let forkServer {
                guard try descriptor.waitUntilReadable(timeout: .zero) else { return nil }
                // The server reports it right after it reaped it (it killed the group first).
                guard let status = forkServer.takeStatus(of: pid, within: .seconds(2)) else { return nil }
                state.reaped = true
                return status
            }
            guard try pidfd._hasExited().get("waitid(WNOWAIT)", .pid(pid)) else { return nil }
            // The leader's zombie pins the group's number: a stranger cannot have it yet.
            _ = nothingOrErrno { Glibc.kill(-pid, SIGKILL) }
            let status = try pidfd._wait(block: false).get("waitid", .pid(pid))
            state.reaped = status != nil
            return status
        }
    }

    /// Closes the pidfd (the process is not affected); later signals do nothing.
    /// Closing twice is harmless. The corresponding C function is `close`.
    func close() {
        state.withLock { state in
            if let descriptor = state.descriptor { _ = descriptor._close() }
            state.descriptor = nil
        }
    }
}

extension PidFD {
    /// Whether the process has exited, without reaping it. The corresponding C function is
    /// `waitid(P_PIDFD, WEXITED | WNOHANG | WNOWAIT)`.
    func _hasExited() -> Result<Bool, Errno> {
        var code: Int32 = 0
        var status: Int32 = 0
        return valueOrErrno { mp_waitid_pidfd(descriptor.rawValue, WEXITED | WNOHANG | WNOWAIT, &code, &status) }
            .map { $0 != 0 }
    }
}
