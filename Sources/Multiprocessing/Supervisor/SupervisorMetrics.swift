import CoreMetrics

/// What a supervisor reports through swift-metrics: children started and exited, restarts of
/// its OTP trees, messages routed between workers, queue depths and pool tasks. The factory is
/// the process's (`MetricsSystem.bootstrap`, as a server sets up once) unless the supervisor's
/// configuration names one; with neither, swift-metrics' no-op handlers cost a call each.
///
/// ```swift
/// MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))   // once, in main
/// try await Multiprocessing.bootstrap(functions: [square])
/// // mp_children_started, mp_messages_routed, mp_queue_depth{queue="7"}, ...
/// ```
///
/// | label | type | dimensions | counts |
/// |---|---|---|---|
/// | `mp_children_started` | counter | – | children whose handshake completed |
/// | `mp_children_exited` | counter | `how`: `exit0`, `exit`, `signal`, `unknown`, `disconnected` (a remote worker's connection ended) | children that ended |
/// | `mp_restarts` | counter | `child`: its spec id | restarts by a ``Supervisor`` tree |
/// | `mp_messages_routed` | counter | – | frames forwarded from one worker to another |
/// | `mp_queue_depth` | gauge | `queue`: its id | items in a supervisor-served queue, at each put and get |
/// | `mp_queue_redelivered` | counter | `queue`: its id | items queued again because the process that had them ended: a ``JoinableQueue``'s items got and not marked done, any queue's items sent ahead to a consumer that had not got them yet |
/// | `mp_pool_tasks` | counter | `state`: `submitted`, `completed`, `failed` | pool tasks |
struct SupervisorMetrics: Sendable {
    let factory: any MetricsFactory
    let childrenStarted: Counter
    let exitedNormally: Counter
    let exitedWithStatus: Counter
    let exitedBySignal: Counter
    let exitedUnknown: Counter
    let exitedDisconnected: Counter
    let messagesRouted: Counter
    let poolTasksSubmitted: Counter
    let poolTasksCompleted: Counter
    let poolTasksFailed: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        childrenStarted = Counter(label: "mp_children_started", factory: factory)
        exitedNormally = Counter(label: "mp_children_exited", dimensions: [("how", "exit0")], factory: factory)
        exitedWithStatus = Counter(label: "mp_children_exited", dimensions: [("how", "exit")], factory: factory)
        exitedBySignal = Counter(label: "mp_children_exited", dimensions: [("how", "signal")], factory: factory)
        exitedUnknown = Counter(label: "mp_children_exited", dimensions: [("how", "unknown")], factory: factory)
        exitedDisconnected = Counter(label: "mp_children_exited", dimensions: [("how", "disconnected")], factory: factory)
        messagesRouted = Counter(label: "mp_messages_routed", factory: factory)
        poolTasksSubmitted = Counter(label: "mp_pool_tasks", dimensions: [("state", "submitted")], factory: factory)
        poolTasksCompleted = Counter(label: "mp_pool_tasks", dimensions: [("state", "completed")], factory: factory)
        poolTasksFailed = Counter(label: "mp_pool_tasks", dimensions: [("state", "failed")], factory: factory)
    }

    /// Counts a child's end by how it ended.
    func exited(_ status: TerminationStatus) {
        switch status {
        case .exited(0): exitedNormally.increment()
        case .exited: exitedWithStatus.increment()
        case .signaled: exitedBySignal.increment()
        case .unknown: exitedUnknown.increment()
        case .disconnected: exitedDisconnected.increment()
        }
    }

    /// The restarts of the child `id` of a supervisor tree.
    func restarts(of id: String) -> Counter {
        Counter(label: "mp_restarts", dimensions: [("child", id)], factory: factory)
    }

    /// The redelivery counter of the queue `id`.
    func queueRedelivered(_ id: UInt64) -> Counter {
        Counter(label: "mp_queue_redelivered", dimensions: [("queue", String(id))], factory: factory)
    }

    /// The depth gauge of the queue `id`.
    func queueDepth(_ id: UInt64) -> Gauge {
        Gauge(label: "mp_queue_depth", dimensions: [("queue", String(id))], factory: factory)
    }
}
