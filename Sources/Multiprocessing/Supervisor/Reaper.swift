import Synchronization

/// Sees every child's death the moment it happens: one thread blocked in `poll` on the
/// children's pidfds (readable once the process exited) and on a wake pipe for changes to
/// that set. It reaps through the pidfd (`waitid(P_PIDFD)`), so no zombie stays behind and a
/// recycled pid is never confused with ours.
final class Reaper: Sendable {
    private struct Watch: Sendable {
        let child: ChildHandle
        let descriptor: FileDescriptor
        let onExit: @Sendable (TerminationStatus) -> Void
    }

    private let watched = Mutex<[Int32: Watch]>([:])
    private let wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
    /// Set by ``stop()``: the thread closes the wake pipe and ends.
    private let stopping = Atomic<Bool>(false)

    init() throws(SystemError) {
        wake = try FileDescriptor.pipe(nonBlocking: true)
        try OSThread.start(name: "mp-reaper") { [self] in run() }
    }

    /// Calls `onExit` (on the reaper's thread) once `child` has exited and been reaped (with
    /// what was left of its process group killed: ``ChildHandle/reapIfExited()``). The handle
    /// stays the caller's; it must stay open until `onExit` ran.
    func watch(_ child: ChildHandle, onExit: @escaping @Sendable (TerminationStatus) -> Void) {
        guard let descriptor = child.pollDescriptor else { return }
        watched.withLock { $0[descriptor.rawValue] = Watch(child: child, descriptor: descriptor, onExit: onExit) }
        poke()
    }

    deinit {
        // The thread held this object until it ended, so nobody pokes the pipe any more.
        try? wake.readEnd.close()
        try? wake.writeEnd.close()
    }

    /// Ends the thread; children still watched are no longer reaped by it (a supervisor
    /// stops it after its children ended).
    func stop() {
        stopping.store(true, ordering: .releasing)
        poke()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { wake.writeEnd._write($0) }
    }

    private func run() {
        var drain = [UInt8](repeating: 0, count: 64)
        while !stopping.load(ordering: .acquiring) {
            let current = watched.withLock { Array($0.values) }
            let descriptors = [wake.readEnd] + current.map(\.descriptor)
            guard let events = try? FileDescriptor.poll(descriptors, for: .readable, timeout: nil) else { continue }
            if !events[0].isEmpty {
                _ = drain.withUnsafeMutableBytes { wake.readEnd._read(into: $0) }
            }
            for (index, watch) in current.enumerated() where !events[index + 1].isEmpty {
                let status: TerminationStatus
                do {
                    // A readable pidfd means the process exited; nil here is a spurious wake.
                    guard let collected = try watch.child.reapIfExited() else { continue }
                    status = collected
                } catch {
                    // ECHILD: someone else reaped it (waitpid(-1), SIGCHLD ignored). It is gone
                    // all the same; never spin on its readable pidfd.
                    status = .unknown
                }
                watched.withLock { _ = $0.removeValue(forKey: watch.descriptor.rawValue) }
                watch.onExit(status)
            }
        }
    }
}
