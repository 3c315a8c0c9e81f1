extension Multiprocessing {
    /// Replaces what the first SIGINT or SIGTERM does in the root process (by default, every
    /// child is stopped in order): `handler` runs on a task, and when it returns the process
    /// exits with 128 + the signal. A second signal while it runs kills every child of the
    /// default runtime at once (SIGKILL) and exits. For a program with a shutdown of its own,
    /// such as mpctl's, which stops its stages in order and prints a summary first. Call it
    /// after ``bootstrap(functions:workers:managed:)``.
    ///
    /// ```swift
    /// try await Multiprocessing.bootstrap()
    /// Multiprocessing.onInterrupt { signal in
    ///     await server.drain()                 // then the process exits with 128 + signal
    /// }
    /// ```
    public static func onInterrupt(_ handler: @escaping @Sendable (_ signal: Int32) async -> Void) {
        let runtime = try? Runtime.current
        Interrupts.replaceShutDown(handler, killNow: { runtime?.supervisorIfStarted?.killEverythingNow() })
    }
}
