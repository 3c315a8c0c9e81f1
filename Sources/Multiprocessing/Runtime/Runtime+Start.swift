extension Runtime {
    /// Starts a child running `function` with `arguments` under this runtime's supervisor:
    /// ``ChildProcess/start(_:_:options:)`` without the default runtime. Returns once its
    /// handshake is done and the arguments are on their way.
    ///
    /// ```swift
    /// let runtime = try Runtime.current
    /// let task = try await runtime.start(square, 7)
    /// print(try await task.value)   // 49
    /// ```
    public func start<each Input, Output>(_ function: ProcessFunction<repeat each Input, Output>, _ arguments: repeat each Input,
                                          options: ProcessOptions = .init()) async throws -> ProcessTask<Output> {
        try await ChildProcess.start(function, repeat each arguments, options: options, on: supervisor())
    }

    /// Starts a long-lived ``Worker`` under this runtime's supervisor:
    /// ``ChildProcess/start(_:options:)`` without the default runtime.
    public func start<W: Worker>(_ worker: W.Type, options: ProcessOptions = .init()) async throws -> ChildProcess {
        try await ChildProcess.start(worker, options: options, on: supervisor())
    }

    /// Starts a foreign executable under this runtime's supervisor:
    /// ``ChildProcess/start(executable:arguments:options:)`` without the default runtime.
    public func start(executable: String, arguments: [String] = [], options: ProcessOptions = .init()) async throws -> ChildProcess {
        try await ChildProcess.start(executable: executable, arguments: arguments, options: options, on: supervisor())
    }

    /// Registers `functions` (barrier actions go to the barrier actions' table) and `workers`
    /// as entries this runtime may start, and each function as one its pool workers run.
    /// Throws ``ProcessError/Code/duplicateEntry``.
    func register(functions: [any ProcessEntry], workers: [any Worker.Type]) throws {
        try Multiprocessing.register(functions: functions, workers: workers, in: entries, poolFunctions: poolFunctions)
    }
}
