import MessagePack
import NIOCore

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
    /// Sends a request without waiting: requests made one after another from one thread reach
    /// the child in that order (a pool's inputs to one worker); `completion` gets the reply or
    /// error envelope, or the error that ended the wait (on the loop).
    func requestInOrder<P: Encodable & Sendable>(_ payload: P, completion: @escaping @Sendable (Result<FrameBody, any Error>) -> Void)
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
