import MessagePack
import NIOCore
import Synchronization

// The seam between a process handle and the supervisor that runs it. `ChildProcess` lives
// here, below the supervisor (Supervisor/), so it names the supervisor's types through these
// two protocols only; the supervisor's record of a child and the supervisor itself conform.

/// The supervisor's side of one child, as a ``ChildProcess`` reaches it (the supervisor's
/// `ChildRecord`). Waits honour task cancellation; writes happen on ``loop``.
protocol ChildLink: AnyObject, Sendable {
    var id: UInt64 { get }
    var pid: Int32 { get }
    var name: String { get }
    var daemon: Bool { get }
    /// How it ended, once it did (any thread).
    var status: TerminationStatus? { get }
    /// The supervisor's event loop, which owns the child's channel.
    var loop: any EventLoop { get }
    /// Sends a function's argument (the request with correlation 1).
    func sendArgument<P: Encodable & Sendable>(_ payload: P) throws
    /// The function's result or its error envelope.
    func functionReply(timeout: Duration?) async throws -> FrameBody
    /// Sends a request and waits for its reply or error envelope.
    func request<P: Encodable & Sendable>(_ payload: P, timeout: Duration?) async throws -> FrameBody
    /// Sends a one-way message (any thread).
    func sendMessage<P: Encodable & Sendable>(_ payload: P) throws
    /// Its status once it exited, nil when `timeout` passed first.
    func waitForExit(timeout: Duration?) async throws -> TerminationStatus?
    /// Signals the child and its group; false once it was reaped.
    @discardableResult func send(_ signal: Signal) -> Bool
    /// Writes one frame to the child (on ``loop``).
    func write<P: Encodable>(_ envelope: Envelope, _ payload: P)
    /// Closes the supervisor's side of the channel: a worker's mailbox ends.
    func closeChannel()
}

/// What starts children: a runtime's supervisor (Supervisor/SupervisorCore+Launch.swift).
protocol ChildLauncher: AnyObject, Sendable {
    /// Spawns a child for `entry` (nil: a foreign executable) and waits for its handshake.
    func launch(entry: String?, options: ProcessOptions, trampoline: Bool) async throws -> ChildProcess
    /// The children it started that have not ended yet.
    var activeChildren: [ChildProcess] { get }
    /// Remembers something to stop, newest first, when an interrupt stops every child (an
    /// OTP supervisor: it stops its children in its own order).
    func registerForShutdown(_ stop: @escaping @Sendable () async -> Void)
    /// One line on standard error per child stopped during an interrupt.
    func reportStop(_ name: String, pid: Int32, _ status: TerminationStatus)
}

/// The launcher of the default runtime, the one ``Multiprocessing/bootstrap(functions:workers:)``
/// made: what ``ChildProcess/start(_:_:options:)`` and the OTP ``Supervisor`` use. Bootstrap
/// installs it (Runtime/); before that there is none, and a start throws
/// ``ProcessError/Code/notBootstrapped``.
enum DefaultLauncher {
    /// Returns the launcher, started if `start` (nil when not started and `start` is false).
    typealias Provider = @Sendable (_ start: Bool) throws -> (any ChildLauncher)?
    private static let provider = Mutex<Provider?>(nil)

    /// Called once by bootstrap.
    static func install(_ provider: @escaping Provider) {
        self.provider.withLock { $0 = provider }
    }

    /// The default launcher, started now if it was not.
    static func started() throws -> any ChildLauncher {
        guard let provider = provider.withLock({ $0 }) else { throw notBootstrapped }
        guard let launcher = try provider(true) else { throw notBootstrapped }
        return launcher
    }

    /// The default launcher if it started; nil before the first spawn or before bootstrap.
    static var ifStarted: (any ChildLauncher)? {
        guard let provider = provider.withLock({ $0 }) else { return nil }
        return (try? provider(false)) ?? nil
    }

    static var notBootstrapped: ProcessError {
        ProcessError(.notBootstrapped, "cannot start a child: this program never called Multiprocessing.bootstrap. "
            + "Call `try await Multiprocessing.bootstrap(functions: [...], workers: [...])` first, at the top of main, "
            + "before anything else runs (a child is this program started again, and bootstrap is where it runs its entry)")
    }
}
