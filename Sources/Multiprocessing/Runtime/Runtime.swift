import CoreMetrics
import Synchronization

/// One process's runtime: its supervisor (started on the first spawn), the services that
/// supervisor hosts (queues, pools, the manager), this process's queue and manager clients and, in a child, its session with
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
            guard let runtime = installed.withLock({ $0 }) else { throw notBootstrapped }
            return runtime
        }
    }

    /// The error of a start (or any use of the default runtime) before bootstrap.
    static var notBootstrapped: ProcessError {
        ProcessError(.notBootstrapped, "cannot start a child: this program never called Multiprocessing.bootstrap. "
            + "Call `try await Multiprocessing.bootstrap(functions: [...], workers: [...])` first, at the top of main, "
            + "before anything else runs (a child is this program started again, and bootstrap is where it runs its entry)")
    }

    /// The default runtime if bootstrap made one.
    static var ifInstalled: Runtime? { installed.withLock { $0 } }

    /// Makes `runtime` the default: ``current`` answers it, ``ChildProcess`` starts through
    /// its supervisor, primitives are made in its arena. Called by bootstrap.
    static func install(_ runtime: Runtime) {
        installed.withLock { $0 = runtime }
        ArenaSources.installDefault(runtime)
    }

    /// The key under which a decoder's `userInfo` names the runtime whose clients a decoded
    /// queue handle uses, and whose arena a decoded lock, value or array is in (without it,
    /// the default runtime's).
    public static let userInfoKey = ArenaSources.userInfoKey

    /// In a child, its end of the channel to the parent's supervisor.
    let session: ChildSession?
    /// The queues' side in this process's supervisor (served once the supervisor runs).
    let queueService: QueueService
    /// This process's queue clients (through ``queueService`` in the parent, over
    /// ``session`` in a child).
    let queueClients: QueueClients
    /// This process tree's shared memory as this runtime holds it: created on first use in a
    /// root runtime, the inherited one in a child's (the locks, values and arrays made
    /// through this runtime live there).
    let arenaSlot: ArenaSlot
    /// The pools' side in this process's supervisor (``ProcessPool`` runs on it).
    let poolService: PoolService
    /// The entries this runtime's supervisor may start (in a child: the one it runs is there).
    let entries: EntryRegistry
    /// The functions a pool worker of this process runs, by name (filled by bootstrap).
    let poolFunctions: PoolFunctions
    /// The manager this runtime's supervisor serves (``Manager``).
    let managerService: ManagerService
    /// This process's manager clients: its supervisor's manager (in this process, or over
    /// ``session``) and the managers it connected to by address.
    let managerClients: ManagerClients
    private let slot: SupervisorSlot

    /// A runtime for a parent (no `session`: it creates an arena of its own on first use) or
    /// for a child whose handshake is done (with the arena it inherited), knowing `entries`.
    /// Nothing starts here: the supervisor starts with the first spawn or queue.
    /// `metrics` receives its supervisor's metrics (the process's swift-metrics factory when nil).
    init(session: ChildSession? = nil, arena: ArenaSlot = ArenaSlot(), entries: EntryRegistry = EntryRegistry(),
         poolFunctions: PoolFunctions = PoolFunctions(), metrics: (any MetricsFactory)? = nil) {
        self.session = session
        arenaSlot = arena
        self.entries = entries
        self.poolFunctions = poolFunctions
        let service = QueueService()
        let pools = PoolService()
        poolService = pools
        let manager = ManagerService()
        managerService = manager
        let slot = SupervisorSlot(SupervisorCore.Configuration(
            services: [service, pools, manager],
            descriptorsForChildren: { arena.descriptorsForChildren },
            beforeInterruptedExit: { arena.stopTracking() }, entries: entries, metricsFactory: metrics), arena: arena)
        self.slot = slot
        queueService = service
        if let session {
            managerClients = ManagerClients(local: WorkerManagerTransport(session: session), routed: .worker(session))
        } else {
            managerClients = ManagerClients(local: ParentManagerTransport { () throws(ManagerError) in
                do {
                    return (manager, try slot.started().loop)
                } catch {
                    throw ManagerError(.disconnected, "the supervisor that runs the manager could not start: \(error)")
                }
            }, routed: .parent { try slot.started() })
        }
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
    /// supervisor's loop and reaper, its segment tracker (unlinking the segments it still
    /// tracks). For a runtime a test made; the default one lives as long as the process.
    func shutdown() async {
        await slot.ifStarted?.shutdown()
        arenaSlot.stopTracking()
    }
}

/// A runtime's supervisor, made on first use.
private final class SupervisorSlot: Sendable {
    private let current = Mutex<SupervisorCore?>(nil)
    private let configuration: SupervisorCore.Configuration
    private let arena: ArenaSlot

    init(_ configuration: SupervisorCore.Configuration, arena: ArenaSlot) {
        self.configuration = configuration
        self.arena = arena
    }

    func started() throws(ProcessError) -> SupervisorCore {
        try current.withLock { (core) throws(ProcessError) -> SupervisorCore in
            if let core { return core }
            // The arena first: its exit handler (segment cleanup) then runs after the supervisor's.
            _ = try? arena.arena()
            let made = try SupervisorCore(configuration)
            core = made
            return made
        }
    }

    var ifStarted: SupervisorCore? { current.withLock { $0 } }
}
