import Synchronization

/// Sees every child's death the moment it happens: each child's pidfd (readable once the
/// process exited) is watched on a ``DescriptorWatcher`` (its thread blocks in `poll`). It
/// reaps through the pidfd (`waitid(P_PIDFD)`), so no zombie stays behind and a recycled pid
/// is never confused with ours.
final class Reaper: Sendable {
    private let watcher: DescriptorWatcher
    /// Whether this reaper started `watcher` (and so stops it).
    private let ownsWatcher: Bool

    /// Watches on `watcher`, or on a watcher of its own ("mp-reaper") when none is given.
    init(watcher: DescriptorWatcher? = nil) throws(SystemError) {
        if let watcher {
            self.watcher = watcher
            ownsWatcher = false
        } else {
            self.watcher = try DescriptorWatcher(name: "mp-reaper")
            ownsWatcher = true
        }
    }

    /// Calls `onExit` (on the watcher's thread) once `child` has exited and been reaped (with
    /// what was left of its process group killed: ``ChildHandle/reapIfExited()``). The handle
    /// stays the caller's; it must stay open until `onExit` ran.
    func watch(_ child: ChildHandle, onExit: @escaping @Sendable (TerminationStatus) -> Void) {
        guard let descriptor = child.pollDescriptor else { return }
        watcher.watch(descriptor, for: .readable) { [self] outcome in
            guard outcome == .ready || outcome == .notOpen else { return }   // stopped: nobody reaps
            let status: TerminationStatus
            do {
                // A readable pidfd means the process exited; nil here is a spurious wake.
                guard let collected = try child.reapIfExited() else { return watch(child, onExit: onExit) }
                status = collected
            } catch {
                // ECHILD: someone else reaped it (waitpid(-1), SIGCHLD ignored). It is gone
                // all the same; never spin on its readable pidfd.
                status = .unknown
            }
            onExit(status)
        }
    }

    /// Ends the watching; children still watched are no longer reaped by it (a supervisor
    /// stops it after its children ended).
    func stop() {
        if ownsWatcher { watcher.stop() }
    }
}
