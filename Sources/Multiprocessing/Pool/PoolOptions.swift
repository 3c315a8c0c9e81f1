/// How a ``ProcessPool`` runs its workers: Python's `Pool(processes, initializer, initargs,
/// maxtasksperchild)` and more.
///
/// ```swift
/// var options = PoolOptions(maxTasksPerChild: 100, taskTimeout: .seconds(5), retries: 2)
/// options.initializer = try PoolInitializer(openDatabase, "/var/db/app.sqlite")
/// let pool = try await ProcessPool(lookup, workers: 4, options: options)
/// ```
public struct PoolOptions: Sendable {
    /// How many worker processes; nil: ``Multiprocessing/cpuCount``.
    public var workers: Int?
    /// Runs once in each worker (a replacement too) before its first task. One that throws
    /// fails the pool's start with ``PoolError/Code/initializerFailed``.
    public var initializer: PoolInitializer?
    /// A worker is replaced by a fresh one after it ran this many inputs (Python's
    /// `maxtasksperchild`, counted in inputs, not chunks); nil: workers live as long as the pool.
    public var maxTasksPerChild: Int?
    /// How long one input may run. Past it the input fails with ``PoolError/Code/timedOut``
    /// and its worker is killed and replaced. With a timeout the default chunk size is 1, so
    /// the deadline is one input's (an explicit chunk of N inputs gets N times the timeout).
    public var taskTimeout: Duration?
    /// How many more times an input whose worker died is run, on another worker, before it
    /// fails with ``PoolError/Code/workerDied``. Errors the function throws are not retried.
    public var retries: Int
    /// Whether cancelling a running task also kills its worker (and starts a replacement).
    /// Without it, the task is told through a cancel frame: its function sees
    /// `Task.isCancelled`, and its chunk's remaining inputs do not start.
    public var replaceWorkerOnCancel: Bool
    /// How workers are started (output handling, executable). An unnamed worker is
    /// "PoolWorker-N".
    public var process: ProcessOptions

    public init(workers: Int? = nil, initializer: PoolInitializer? = nil, maxTasksPerChild: Int? = nil,
                taskTimeout: Duration? = nil, retries: Int = 0, replaceWorkerOnCancel: Bool = false,
                process: ProcessOptions = ProcessOptions()) {
        self.workers = workers
        self.initializer = initializer
        self.maxTasksPerChild = maxTasksPerChild
        self.taskTimeout = taskTimeout
        self.retries = retries
        self.replaceWorkerOnCancel = replaceWorkerOnCancel
        self.process = process
    }
}
