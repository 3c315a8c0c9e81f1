import Synchronization

/// What to stop first when everything stops (OTP supervisors' own shutdowns, newest first),
/// and the one line on standard error per child stopped during an interrupt.
final class ShutdownOrder: Sendable {
    private let steps = Mutex<[@Sendable () async -> Void]>([])
    /// Set while an interrupt shuts everything down: every stop is then reported on stderr.
    let reportingStops = Atomic<Bool>(false)

    /// Remembers `stop`, to run before the remaining children are stopped.
    func register(_ stop: @escaping @Sendable () async -> Void) {
        steps.withLock { $0.append(stop) }
    }

    /// The registered steps, newest first, forgotten here.
    func takeNewestFirst() -> [@Sendable () async -> Void] {
        steps.withLock { steps in defer { steps.removeAll() }; return steps.reversed() }
    }

    /// One line on stderr per child stopped during an interrupt, in the order they stopped.
    func reportStop(_ name: String, pid: Int32, _ status: TerminationStatus) {
        guard reportingStops.load(ordering: .relaxed) else { return }
        RuntimeLog.warning("[supervisor] stopped \(name) (pid \(pid)): \(status)", metadata: ["worker": "\(name)", "pid": "\(pid)"])
    }
}
