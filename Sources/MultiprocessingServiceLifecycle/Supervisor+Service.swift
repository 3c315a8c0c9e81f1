import Multiprocessing
import ServiceLifecycle

/// A supervisor tree runs as a swift-service-lifecycle `Service`: in a `ServiceGroup` beside a
/// server, its children start with the group, are restarted by its strategy while the group
/// runs, and stop in reverse start order when the group shuts down gracefully (SIGTERM, say).
/// A tree that gives up (its restart intensity exhausted) ends `run()` with its
/// ``SupervisorError``, so the group ends too, as a failed service does.
///
/// ```swift
/// let tree = Supervisor(strategy: .oneForOne, intensity: 3, period: .seconds(5),
///                       children: [.worker("tally", Tally.self)])
/// let group = ServiceGroup(services: [httpServer, tree],
///                          gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
extension Supervisor: Service {
    /// Starts the children (on the default runtime; `bootstrap` first), then supervises them
    /// until the group shuts down gracefully or the task is cancelled (then stops them), or
    /// until the tree gives up (then throws).
    public func run() async throws {
        try await start()
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await wait()
        } onCancelOrGracefulShutdown: {
            Task { await self.shutdown() }
        }
    }
}
