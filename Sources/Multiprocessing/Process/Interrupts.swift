import Synchronization

/// A terminal's Ctrl-C (SIGINT) or a `kill` (SIGTERM) reaches only the supervisor, since every
/// child leads its own process group. The supervisor then shuts everything down in order
/// (supervision trees in reverse start order, then other children: SIGTERM, a grace period,
/// SIGKILL) and exits with 128 + the signal, as a shell expects. A second signal while that
/// runs kills every child at once (SIGKILL) and exits: the impatient user's way out.
enum Interrupts {
    /// What the first signal runs, and what a second one runs while the first is handled.
    struct Actions: Sendable {
        var shutDown: @Sendable (_ signal: Int32) async -> Void
        var killNow: @Sendable () -> Void
    }

    private static let installed = Mutex(false)
    private static let actions = Mutex<Actions?>(nil)
    /// The signal being handled, 0 if none: the process then exits with 128 + it whoever
    /// calls `exit` first (main returning after its supervisor stopped, or this thread).
    static let received = Atomic<Int32>(0)

    /// Routes SIGINT and SIGTERM to a thread that runs the shutdown (the default runtime's
    /// ordered stop, unless the program replaced it), then exits. Called by
    /// ``Multiprocessing/bootstrap(functions:workers:)`` in the parent.
    static func install(_ defaults: Actions) {
        actions.withLock { current in if current == nil { current = defaults } }
        let first = installed.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        do {
            let pipe = try SignalPipe.route([.interrupt, .terminate])
            try OSThread.start(name: "mp-interrupts") {
                var byte = [UInt8](repeating: 0, count: 1)
                func readSignal() -> Int32? {
                    guard let count = try? byte.withUnsafeMutableBytes({ try pipe.read(into: $0) }), count == 1 else { return nil }
                    return Int32(byte[0])
                }
                while true {
                    guard (try? pipe.waitUntilReadable(timeout: nil)) == true, let signal = readSignal() else { continue }
                    received.store(signal, ordering: .sequentiallyConsistent)
                    guard let chosen = actions.withLock({ $0 }) else { ProcessEnvironment.exit(128 + signal) }
                    RuntimeLog.warning("[supervisor] \(Signal(rawValue: signal)): stopping every child in order (again to kill them at once)")
                    let done = Mutex(false)
                    Task {
                        await chosen.shutDown(signal)
                        done.withLock { $0 = true }
                    }
                    while !done.withLock({ $0 }) {
                        guard (try? pipe.waitUntilReadable(timeout: .milliseconds(20))) == true, let second = readSignal() else { continue }
                        RuntimeLog.warning("[supervisor] \(Signal(rawValue: second)) again: killing every child now")
                        chosen.killNow()
                        ProcessEnvironment.exit(128 + signal)
                    }
                    ProcessEnvironment.exit(128 + signal)
                }
            }
        } catch {
            RuntimeLog.error("[supervisor] cannot handle SIGINT/SIGTERM: \(error)")
        }
    }

    /// Replaces what the first signal runs (``Multiprocessing/onInterrupt(_:)``).
    static func replaceShutDown(_ shutDown: @escaping @Sendable (_ signal: Int32) async -> Void,
                                killNow: @escaping @Sendable () -> Void) {
        actions.withLock { $0 = Actions(shutDown: shutDown, killNow: killNow) }
    }
}
