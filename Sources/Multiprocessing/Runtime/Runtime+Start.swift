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
        let child = try await supervisor().launch(entry: function.name, options: ProcessNames.assign(options, prefix: ProcessNames.processPrefix),
                                                  trampoline: false)
        do {
            try child.record.sendArgument(EntryArguments(repeat each arguments))
        } catch {
            child.kill()
            throw error
        }
        return ProcessTask(child, decodeResult: function.decodeResult)
    }
}
