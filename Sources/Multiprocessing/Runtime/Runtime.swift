import Synchronization

/// One process's runtime: its supervisor (started on the first spawn), the services that
/// supervisor hosts (queues), this process's queue clients and, in a child, its session with
/// the parent's supervisor. The composition root: the folders below take the pieces they need
/// from it as values, so two runtimes can live in one process (a test does that).
///
/// ``Multiprocessing/bootstrap(functions:workers:)`` makes the default runtime, as Python's
/// default context: ``current``. The conveniences without a runtime argument
/// (``ChildProcess/start(_:_:options:)``, `Queue()`, ``Multiprocessing/supervisorExecutor``)
/// use it.
///
/// ```swift
/// try await Multiprocessing.bootstrap(functions: [square])
/// let runtime = try Runtime.current                  // the one bootstrap made
/// let jobs = try Queue<Int>(maxsize: 10, runtime: runtime)   // the same as Queue<Int>(maxsize: 10)
/// ```
public final class Runtime: Sendable {
    /// The default runtime, installed by bootstrap.
    private static let installed = Mutex<Runtime?>(nil)

    /// The default runtime: the one ``Multiprocessing/bootstrap(functions:workers:)`` made in
    /// this process. Before bootstrap (and in a child, before its handshake) it throws
    /// ``ProcessError/Code/notBootstrapped``.
    public static var current: Runtime {
        get throws(ProcessError) {
            guard let runtime = installed.withLock({ $0 }) else { throw DefaultLauncher.notBootstrapped }
            return runtime
        }
    }

    /// The default runtime if bootstrap made one.
    static var ifInstalled: Runtime? { installed.withLock { $0 } }

    /// Makes `runtime` the default: ``current`` answers it, and ``ChildProcess`` starts
    /// through its supervisor. Called by bootstrap.
    static func install(_ runtime: Runtime) {
        installed.withLock { $0 = runtime }
        DefaultLauncher.install { start in
            guard let runtime = Runtime.ifInstalled else { return nil }
            return start ? try runtime.supervisor() : runtime.supervisorIfStarted
        }
    }

    /// The key under which a decoder's `userInfo` names the runtime whose clients a decoded
    /// queue handle uses (without it, the default runtime's).
    public static let userInfoKey = CodingUserInfoKey(rawValue: "multiprocessing.runtime")!

    /// In a child, its end of the channel to the parent's supervisor.
    let session: ChildSession?
    /// The queues' side in this process's supervisor (served once the supervisor runs).
    let queueService: QueueService
    /// This process's queue clients (through ``queueService`` in the parent, over
    /// ``session`` in a child).
    let queueClients: QueueClients
    private let slot: SupervisorSlot

    /// A runtime for a parent (no `session`) or for a child whose handshake is done.
    /// Nothing starts here: the supervisor starts with the first spawn or queue.
    init(session: ChildSession? = nil) {
        self.session = session
        let service = QueueService()
        let slot = SupervisorSlot(SupervisorCore.Configuration(
            services: [service],
            descriptorsForChildren: { Arena.descriptorForChildren.map { [(label: Arena.descriptorLabel, descriptor: $0)] } ?? [] },
            beforeInterruptedExit: { SegmentTracker.cleanUpAtExit() }))
        self.slot = slot
        queueService = service
        if let session {
            queueClients = QueueClients(worker: session)
        } else {
            queueClients = QueueClients(parentOf: {
                _ = try slot.started()
                return service
            })
        }
    }

    /// This runtime's supervisor, started now if it was not; a failed start is not kept, so
    /// the next call tries again. Throws ``ProcessError/Code/supervisorUnavailable`` when it
    /// cannot start (too many open files, say).
    func supervisor() throws(ProcessError) -> SupervisorCore { try slot.started() }

    /// The supervisor if it started.
    var supervisorIfStarted: SupervisorCore? { slot.ifStarted }

    /// The supervisor's event-loop thread as a task executor (see
    /// ``Multiprocessing/supervisorExecutor``); starts the supervisor, and throws
    /// ``ProcessError/Code/supervisorUnavailable`` if it cannot start.
    public func supervisorExecutor() throws(ProcessError) -> any TaskExecutor { try supervisor().executor }

    /// Stops what this runtime started: its children (SIGTERM, a grace period, SIGKILL), its
    /// supervisor's loop and reaper. For a runtime a test made; the default one lives as long
    /// as the process.
    func shutdown() async {
        await slot.ifStarted?.shutdown()
    }
}

/// A runtime's supervisor, made on first use.
private final class SupervisorSlot: Sendable {
    private let current = Mutex<SupervisorCore?>(nil)
    private let configuration: SupervisorCore.Configuration

    init(_ configuration: SupervisorCore.Configuration) { self.configuration = configuration }

    func started() throws(ProcessError) -> SupervisorCore {
        try current.withLock { (core) throws(ProcessError) -> SupervisorCore in
            if let core { return core }
            // The arena first: its exit handler (segment cleanup) then runs after the supervisor's.
            _ = Arena.descriptorForChildren
            let made = try SupervisorCore(configuration)
            core = made
            return made
        }
    }

    var ifStarted: SupervisorCore? { current.withLock { $0 } }
}
