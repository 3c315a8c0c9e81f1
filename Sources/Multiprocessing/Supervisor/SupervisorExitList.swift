import Synchronization

/// Every supervisor of the process, for the one `atexit` handler (which takes no context):
/// at the process's exit each is told to stop its children (Python's behaviour at the
/// parent's exit, ``SupervisorCore``). Holds them weakly: a supervisor that went away is skipped.
enum SupervisorExitList {
    private final class WeakCore: Sendable {
        weak let core: SupervisorCore?
        init(_ core: SupervisorCore) { self.core = core }
    }
    private static let list = Mutex<[WeakCore]>([])
    private static let handlerInstalled = Atomic<Bool>(false)

    /// Adds `core`, and installs the exit handler with the first one.
    static func add(_ core: SupervisorCore) {
        list.withLock { list in
            list.removeAll { $0.core == nil }
            list.append(WeakCore(core))
        }
        guard !handlerInstalled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ProcessEnvironment.atExit {
            for core in SupervisorExitList.list.withLock({ $0.compactMap(\.core) }) { core.shutDownAtExit() }
        }
    }

    /// Removes `core` (it shut down).
    static func remove(_ core: SupervisorCore) {
        list.withLock { list in list.removeAll { $0.core == nil || $0.core === core } }
    }
}
