// The queues' public initializers: the default runtime's (or a given runtime's) clients.

extension Queue {
    /// A new queue holding at most `maxsize` items (0: unbounded) and, in the supervisor, about
    /// `byteBudget` bytes of encoded items (past it, puts wait). Throws
    /// ``QueueError/Code/invalidArgument`` for a negative `maxsize` or a `byteBudget` below 1.
    ///
    /// Served by `runtime`'s supervisor, or by the default runtime's (``Runtime/current``) when
    /// `runtime` is nil: throws ``ProcessError/Code/notBootstrapped`` before bootstrap, and
    /// ``ProcessError/Code/supervisorUnavailable`` when this process's supervisor cannot start.
    public init(maxsize: Int = 0, byteBudget: Int = 64 << 20, runtime: Runtime? = nil) throws {
        try self.init(maxsize: maxsize, byteBudget: byteBudget, clients: (runtime ?? Runtime.current).queueClients)
    }

    /// Reads a handle (`{"queue", "maxsize", "joinable"}`); a handle of another kind of queue is a
    /// `DecodingError` that says which.
    ///
    /// The handle's client is the one of the runtime the decoder's `userInfo` names under
    /// ``Runtime/userInfoKey``, or of the default runtime.
    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, clients: Runtime.forDecoding(decoder).queueClients)
    }
}

extension SimpleQueue {
    /// A new queue, unbounded in items; the supervisor holds about `byteBudget` bytes of encoded
    /// items for it before its puts fail with ``QueueError/Code/full`` (see ``put(_:)``).
    /// Throws ``QueueError/Code/invalidArgument`` for a `byteBudget` below 1.
    ///
    /// Served by `runtime`'s supervisor, or by the default runtime's (``Runtime/current``) when
    /// `runtime` is nil: throws ``ProcessError/Code/notBootstrapped`` before bootstrap, and
    /// ``ProcessError/Code/supervisorUnavailable`` when this process's supervisor cannot start.
    public init(byteBudget: Int = 64 << 20, runtime: Runtime? = nil) throws {
        try self.init(byteBudget: byteBudget, clients: (runtime ?? Runtime.current).queueClients)
    }

    /// Reads a handle (`{"queue", "maxsize", "joinable"}`); a handle of another kind of queue is a
    /// `DecodingError` that says which.
    ///
    /// The handle's client is the one of the runtime the decoder's `userInfo` names under
    /// ``Runtime/userInfoKey``, or of the default runtime.
    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, clients: Runtime.forDecoding(decoder).queueClients)
    }
}

extension JoinableQueue {
    /// A new queue holding at most `maxsize` items (0: unbounded) and about `byteBudget` bytes of
    /// encoded items in the supervisor (see ``Queue/init(maxsize:byteBudget:runtime:)``).
    ///
    /// Served by `runtime`'s supervisor, or by the default runtime's (``Runtime/current``) when
    /// `runtime` is nil: throws ``ProcessError/Code/notBootstrapped`` before bootstrap, and
    /// ``ProcessError/Code/supervisorUnavailable`` when this process's supervisor cannot start.
    public init(maxsize: Int = 0, byteBudget: Int = 64 << 20, runtime: Runtime? = nil) throws {
        try self.init(maxsize: maxsize, byteBudget: byteBudget, clients: (runtime ?? Runtime.current).queueClients)
    }

    /// Reads a handle (`{"queue", "maxsize", "joinable"}`); a handle of another kind of queue is a
    /// `DecodingError` that says which.
    ///
    /// The handle's client is the one of the runtime the decoder's `userInfo` names under
    /// ``Runtime/userInfoKey``, or of the default runtime.
    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, clients: Runtime.forDecoding(decoder).queueClients)
    }
}

extension Runtime {
    /// The runtime a decoder names in its `userInfo`, else the default one.
    static func forDecoding(_ decoder: any Decoder) throws -> Runtime {
        if let runtime = decoder.userInfo[userInfoKey] as? Runtime { return runtime }
        return try current
    }
}

extension Multiprocessing {
    /// The supervisor's event-loop thread as a task executor, for latency-critical
    /// request/reply loops in the parent: under
    /// `withTaskExecutorPreference(Multiprocessing.supervisorExecutor)`, a
    /// ``ChildProcess/request(_:as:timeout:)`` costs two pipe hops and no thread hop.
    ///
    /// ```swift
    /// let worker = try await ChildProcess.start(Echo.self)
    /// let replies = try await withTaskExecutorPreference(Multiprocessing.supervisorExecutor) {
    ///     var replies: [Int] = []
    ///     for value in 0..<1_000 { replies.append(try await worker.request(value, as: Int.self)) }
    ///     return replies
    /// }
    /// ```
    ///
    /// Everything that runs there delays the routing of every child's messages while it
    /// runs: keep to short request loops, and never block (no blocking `Connection` calls,
    /// no long computations). Starts the default runtime's supervisor if it was not running.
    /// A property cannot throw: before bootstrap, or when the supervisor cannot start, it
    /// ends the process with the reason; ``Runtime/supervisorExecutor()`` throws instead.
    public static var supervisorExecutor: any TaskExecutor {
        do { return try Runtime.current.supervisorExecutor() } catch { fatalError("Multiprocessing.supervisorExecutor: \(error)") }
    }
}
