/// Why one task of a ``ProcessPool`` failed: which input (its index in the call), which
/// worker ran it, and what happened there. A worker that died names its exit status or signal
/// (CPython's pool hangs forever there, bpo-22393); an error the function threw comes back
/// with its type name and message.
///
/// ```swift
/// do {
///     _ = try await pool.map(inputs)
/// } catch let error as PoolMapError {
///     for failure in error.failures where failure.code == .workerDied {
///         print("input \(failure.index!) killed \(failure.worker!): \(failure.status!)")
///     }
/// }
/// ```
public struct PoolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. An open set: switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The function threw; ``PoolError/remote`` names the error's type and message.
        public static let functionFailed = Code(name: "functionFailed")
        /// The worker running the task ended (SIGKILL, out of memory, a trap) before it
        /// answered; ``PoolError/status`` says how. The worker was replaced.
        public static let workerDied = Code(name: "workerDied")
        /// The task ran past the pool's `taskTimeout`; its worker was killed and replaced.
        public static let timedOut = Code(name: "timedOut")
        /// The caller's task was cancelled before this task finished.
        public static let cancelled = Code(name: "cancelled")
        /// ``ProcessPool/terminate()`` stopped the pool before this task finished.
        public static let terminated = Code(name: "terminated")
        /// Work was submitted after ``ProcessPool/close()`` or ``ProcessPool/terminate()``.
        public static let closed = Code(name: "closed")
        /// The pool's initializer failed in a worker (its error in ``PoolError/remote``).
        public static let initializerFailed = Code(name: "initializerFailed")
        /// No worker could be started to run the task (``PoolError/message`` says why).
        public static let workerUnavailable = Code(name: "workerUnavailable")
        /// The worker's answer did not decode as the function's result type (a peer that lies).
        public static let badResult = Code(name: "badResult")
        /// A bad argument to the pool itself (a chunk size of 0, a function not registered).
        public static let invalidArgument = Code(name: "invalidArgument")

        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// The pool's function.
    public let function: String
    /// The input's index in its `map`/`imap`/`starmap` call; nil for `submit`/`apply`.
    public let index: Int?
    /// The worker that ran (or last ran) the task, when one did.
    public let worker: String?
    /// That worker's process id.
    public let workerPID: Int32?
    /// How the worker ended, for ``Code/workerDied``.
    public let status: TerminationStatus?
    /// The error the function (or the initializer) threw, as it travelled.
    public let remote: RemoteError?
    /// How many times the task was started (more than 1 after retries).
    public let attempts: Int
    /// The sentence that explains it (also in ``description``).
    public let message: String

    init(_ code: Code, function: String, index: Int?, worker: String? = nil, workerPID: Int32? = nil,
         status: TerminationStatus? = nil, remote: RemoteError? = nil, attempts: Int = 1, message: String) {
        self.code = code
        self.function = function
        self.index = index
        self.worker = worker
        self.workerPID = workerPID
        self.status = status
        self.remote = remote
        self.attempts = attempts
        self.message = message
    }

    /// "pool task \"square\" (input 17) on PoolWorker-2 (pid 4242): the worker was killed by SIGKILL (1 attempt)".
    public var description: String {
        var text = "pool task \"\(function)\""
        if let index { text += " (input \(index))" }
        if let worker { text += " on \(worker)" + (workerPID.map { " (pid \($0))" } ?? "") }
        text += ": " + message
        if attempts > 1 { text += " (\(attempts) attempts)" }
        return text
    }
}

/// A `map` or `starmap` in which some inputs failed: every failure, by input index, and how
/// many inputs there were. Every other input ran to completion (Python's `map` raises the
/// first error alone; this names them all).
///
/// ```swift
/// catch let error as PoolMapError {
///     print(error.failures.map(\.index!))   // exactly the inputs that failed
/// }
/// ```
public struct PoolMapError: Error, Sendable, CustomStringConvertible {
    /// Every failed input, in index order.
    public let failures: [PoolError]
    /// How many inputs the call had.
    public let total: Int

    public var description: String {
        let shown = failures.prefix(10).map { "  " + $0.description }.joined(separator: "\n")
        let more = failures.count > 10 ? "\n  ... and \(failures.count - 10) more" : ""
        return "\(failures.count) of \(total) pool tasks failed:\n\(shown)\(more)"
    }
}

/// Where a pool's work stands: a snapshot, cheap to read from any thread while a `map` runs
/// (a progress bar polls it).
///
/// ```swift
/// let p = pool.progress
/// print("\(p.completed + p.failed)/\(p.total)")
/// ```
public struct PoolProgress: Sendable, Hashable {
    /// Inputs submitted to the pool so far (every call's).
    public var total: Int
    /// Inputs that ran to success.
    public var completed: Int
    /// Inputs that failed for good (after any retries), or were cancelled.
    public var failed: Int
    /// Inputs in a worker's hands now: running, or sent ahead to it (a worker holds the next
    /// tasks so it never waits for the supervisor between two).
    public var running: Int
    /// Inputs started again because their worker died: the inputs of a chunk that had no
    /// answer yet (each runs again alone; an input that had finished in the last millisecond
    /// before the death may so run twice), the retries of single inputs, and the tasks sent
    /// ahead to that worker. An upper bound: an input that ran twice is always counted here.
    public var rerun: Int

    /// The share of ``total`` that has an answer (0 when nothing was submitted).
    public var fractionDone: Double { total == 0 ? 0 : Double(completed + failed) / Double(total) }
}
