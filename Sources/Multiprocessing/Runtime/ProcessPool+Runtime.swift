// ProcessPool's public initializers and `withProcessPool`: they find the runtime (the default
// one bootstrap made, or the one given), which Pool/ may not name.

extension Runtime {
    /// What a pool takes from this runtime.
    var poolHost: PoolHost {
        PoolHost(service: poolService, supervisor: { try self.supervisor() }, functions: poolFunctions, entries: entries)
    }
}

extension ProcessPool {
    /// A pool of `workers` processes (default ``Multiprocessing/cpuCount``) running `function`,
    /// started under `runtime` (default: the one bootstrap made). Returns once every worker is
    /// ready (its initializer ran). Throws ``ProcessError`` before bootstrap or for a function
    /// bootstrap did not register, ``PoolError`` with ``PoolError/Code/initializerFailed`` when
    /// the initializer throws.
    ///
    /// ```swift
    /// let pool = try await ProcessPool(square, workers: 4)
    /// print(try await pool.map([1, 2, 3]))   // [1, 4, 9]
    /// ```
    public convenience init(_ function: ProcessFunction<Input, Output>, workers: Int? = nil,
                            options: PoolOptions = PoolOptions(), runtime: Runtime? = nil) async throws where Output: Codable {
        try await self.init(name: function.name, workers: workers, options: options, host: (runtime ?? Runtime.current).poolHost,
                            decodeOutputs: Self.codableOutputs)
    }

    /// A pool of a function that returns nothing: its calls return once every input ran.
    public convenience init(_ function: ProcessFunction<Input, Output>, workers: Int? = nil,
                            options: PoolOptions = PoolOptions(), runtime: Runtime? = nil) async throws where Output == Void {
        try await self.init(name: function.name, workers: workers, options: options, host: (runtime ?? Runtime.current).poolHost,
                            decodeOutputs: { _, count, failed in Array(repeating: (), count: count - failed.count) })
    }

    /// A pool of a function of several arguments: its inputs are ``ProcessArguments``, and
    /// `starmap` takes tuples.
    ///
    /// ```swift
    /// let add = ProcessFunction("add") { (a: Int, b: Int) in a + b }
    /// print(try await ProcessPool(add).starmap([(1, 2), (3, 4)]))   // [3, 7]
    /// ```
    public convenience init<A, B, each Rest>(_ function: ProcessFunction<A, B, repeat each Rest, Output>, workers: Int? = nil,
                                             options: PoolOptions = PoolOptions(), runtime: Runtime? = nil) async throws
        where Output: Codable, Input == ProcessArguments<A, B, repeat each Rest> {
        try await self.init(name: function.name, workers: workers, options: options, host: (runtime ?? Runtime.current).poolHost,
                            decodeOutputs: Self.codableOutputs)
    }

    /// A pool of `workers` processes each running the ``Worker`` type `worker`: every input is
    /// a request to a worker's mailbox (`context.requests(Input.self)`), and the worker's reply
    /// is its result (decoded as `Output`; `request.fail(error)` fails the input). One input
    /// runs at a time per worker; crashes, retries, timeouts and recycling behave as in a
    /// function's pool. A running input cannot be told to stop (a worker type has no cancel):
    /// cancelling drops its reply, or replaces the worker with ``PoolOptions/replaceWorkerOnCancel``.
    ///
    /// ```swift
    /// struct Doubler: Worker {
    ///     func run(_ context: WorkerContext) async throws {
    ///         for try await request in context.requests(Int.self) { try request.reply(request.value * 2) }
    ///     }
    /// }
    /// let pool = try await ProcessPool<Int, Int>(worker: Doubler.self, workers: 2)
    /// print(try await pool.map([1, 2, 3]))   // [2, 4, 6]
    /// ```
    public convenience init<W: Worker>(worker: W.Type, workers: Int? = nil, options: PoolOptions = PoolOptions(),
                                       runtime: Runtime? = nil) async throws where Output: Codable {
        try await self.init(name: W.entryName, transport: .mailbox(entry: W.entryName), workers: workers, options: options,
                            host: (runtime ?? Runtime.current).poolHost, decodeOutputs: Self.codableOutputs)
    }
}

/// Runs `body` with a pool of `function` and always terminates it on the way out (whether
/// `body` returned, threw or was cancelled): the scope in which a pool lives.
///
/// ```swift
/// let total = try await withProcessPool(square, workers: 2) { pool in
///     try await pool.map(1...100).reduce(0, +)
/// }
/// ```
public func withProcessPool<Input, Output, Result>(
    _ function: ProcessFunction<Input, Output>, workers: Int? = nil, options: PoolOptions = PoolOptions(), runtime: Runtime? = nil,
    _ body: (ProcessPool<Input, Output>) async throws -> Result
) async throws -> Result where Output: Codable {
    let pool = try await ProcessPool(function, workers: workers, options: options, runtime: runtime)
    do {
        let result = try await body(pool)
        await pool.terminate()
        return result
    } catch {
        await pool.terminate()
        throw error
    }
}
