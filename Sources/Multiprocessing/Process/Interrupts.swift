import Synchronization

/// A terminal's Ctrl-C (SIGINT) or a `kill` (SIGTERM) reaches only the supervisor, since every
/// child leads its own process group. The supervisor then shuts everything down in order
/// (supervision trees in reverse start order, then other children: SIGTERM, a grace period,
/// SIGKILL) and exits with 128 + the signal, as a shell expects.
enum Interrupts {
    private static let installed = Mutex(false)
    /// The signal being handled, 0 if none: the process then exits with 128 + it whoever
    /// calls `exit` first (main returning after its supervisor stopped, or this thread).
    static let received = Atomic<Int32>(0)

    /// Routes SIGINT and SIGTERM to a thread that runs `shutDown` (the default runtime's
    /// ordered stop), then exits. Called by ``Multiprocessing/bootstrap(functions:workers:)``
    /// in the parent.
    static func install(shutDown: @escaping @Sendable () async -> Void) {
        let first = installed.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        do {
            let pipe = try SignalPipe.route([.interrupt, .terminate])
            try OSThread.start(name: "mp-interrupts") {
                var byte = [UInt8](repeating: 0, count: 1)
                while true {
                    guard (try? pipe.waitUntilReadable(timeout: nil)) == true,
                          let count = try? byte.withUnsafeMutableBytes({ try pipe.read(into: $0) }), count == 1 else { continue }
                    let signal = Int32(byte[0])
                    received.store(signal, ordering: .sequentiallyConsistent)
                    RuntimeLog.warning("[supervisor] \(Signal(rawValue: signal)): stopping every child in order")
                    let done = Mutex(false)
                    Task {
                        await shutDown()
                        done.withLock { $0 = true }
                    }
                    while !done.withLock({ $0 }) { _ = try? pipe.waitUntilReadable(timeout: .milliseconds(20)) }
                    ProcessEnvironment.exit(128 + signal)
                }
            }
        } catch {
            RuntimeLog.error("[supervisor] cannot handle SIGINT/SIGTERM: \(error)")
        }
    }
}
