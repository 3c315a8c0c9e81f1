// Starting children without naming a runtime: Python's default context, the default runtime's
// supervisor (``Runtime/current``). Before bootstrap each throws
// ``ProcessError/Code/notBootstrapped``: a program that forgot bootstrap would otherwise start
// itself as a child.

extension ChildProcess {
    /// Starts a child running `function` with `arguments`; returns once its handshake is done
    /// and the arguments are on their way. The handle's ``ProcessTask/value`` is the result;
    /// the child is `temporary`: never restarted. Uses the default runtime
    /// (``Runtime/start(_:_:options:)`` takes a given one).
    ///
    /// ```swift
    /// let task = try await ChildProcess.start(add, 2, "x")
    /// print(task.name, try await task.value)
    /// ```
    public static func start<each Input, Output>(_ function: ProcessFunction<repeat each Input, Output>, _ arguments: repeat each Input,
                                                 options: ProcessOptions = .init()) async throws -> ProcessTask<Output> {
        try await start(function, repeat each arguments, options: options, on: Runtime.current.supervisor())
    }

    /// Starts a long-lived ``Worker``; returns once its handshake is done. Talk to it with
    /// ``request(_:as:timeout:)``; it ends when the parent ends its mailbox
    /// (``closeMailbox()``) or at the parent's exit. Uses the default runtime.
    public static func start<W: Worker>(_ worker: W.Type, options: ProcessOptions = .init()) async throws -> ChildProcess {
        try await start(worker, options: options, on: Runtime.current.supervisor())
    }

    /// Starts any executable that speaks Protocols/PROTOCOL.md on fds 3 and 4 (a Python
    /// script, another Swift tool) as a worker. It is started through this program, which ties
    /// its life to the supervisor's before it `exec`s the executable (a trampoline). Uses the
    /// default runtime.
    public static func start(executable: String, arguments: [String] = [], options: ProcessOptions = .init()) async throws -> ChildProcess {
        try await start(executable: executable, arguments: arguments, options: options, on: Runtime.current.supervisor())
    }

    /// Runs `function` with `arguments` in a child and returns its result: Python's
    /// `Process(target=f, args=...).start(); join()`, with the return value. An error thrown in
    /// the child is thrown here as a ``RemoteError`` naming its type and message.
    ///
    /// ```swift
    /// let total = try await ChildProcess.run(add, 2, 3)
    /// try await ChildProcess.run(ping)          // a function that returns nothing
    /// ```
    @discardableResult
    public static func run<each Input, Output>(_ function: ProcessFunction<repeat each Input, Output>, _ arguments: repeat each Input,
                                               options: ProcessOptions = .init()) async throws -> Output {
        let task = try await start(function, repeat each arguments, options: options)
        let output = try await task.value
        _ = try await task.join()
        return output
    }

    /// The children started by this process that have not been joined... that are still known
    /// to the default runtime's supervisor (alive, or exited with answers still being read).
    /// Python's `active_children()`; empty before bootstrap or the first start.
    public static func activeChildren() -> [ChildProcess] {
        Runtime.ifInstalled?.supervisorIfStarted?.activeChildren ?? []
    }
}

extension Supervisor {
    /// Starts every child in order under the default runtime's supervisor; if one fails to
    /// start, stops those already started (in reverse order) and throws. Before bootstrap it
    /// throws ``ProcessError/Code/notBootstrapped`` and starts nothing.
    public func start() async throws {
        try await start(on: Runtime.current.supervisor())
    }
}
