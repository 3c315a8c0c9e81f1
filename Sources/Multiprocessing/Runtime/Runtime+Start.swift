extension Runtime {
    /// Starts a child running `function` with `input` under this runtime's supervisor:
    /// ``ChildProcess/start(_:_:options:)`` without the default runtime. Returns once its
    /// handshake is done and the argument is on its way.
    ///
    /// ```swift
    /// let runtime = try Runtime.current
    /// let child = try await runtime.start(square, 7)
    /// print(try await child.result(of: square))   // 49
    /// ```
    public func start<Input, Output>(_ function: ProcessFunction<Input, Output>, _ input: Input,
                                     options: ProcessOptions = .init()) async throws -> ChildProcess {
        let child = try await supervisor().launch(entry: function.name, options: options, trampoline: false)
        do {
            try child.record.sendArgument(input)
        } catch {
            child.kill()
            throw error
        }
        return child
    }
}
