import MessagePack
import Synchronization

/// How a child process is started (Python's start methods).
///
/// ```swift
/// var options = ProcessOptions()
/// options.startMethod = .spawn        // a fresh copy of the executable, exec'd and loaded
/// let child = try await ChildProcess.start(square, 7, options: options)
/// ```
public enum StartMethod: Sendable, Hashable {
    /// Forked by a fork server: a copy of this executable started once per supervisor, which
    /// forks each child before `main` runs, where no thread exists yet (Python's
    /// "forkserver"). A child then skips `exec`, the dynamic loader and relocations: about
    /// 1 ms to start instead of 5-15. Used when the child is this executable with no
    /// ``ProcessOptions/arguments`` and no ``ProcessOptions/workingDirectory`` (it is a
    /// copy of the server, which has neither) and asks for the loader and allocator settings
    /// this process has (`LD_*`, `MALLOC_*`, `GLIBC_TUNABLES` are read before `main`), once
    /// the server is up (it starts beside the first such child); otherwise, or if the server
    /// cannot fork it, the child is spawned. Every child of one server shares its
    /// address-space layout (no fresh ASLR per child), as with Python's fork and forkserver.
    case forkServer
    /// `posix_spawn` of the executable: a fresh process image for every child (Python's
    /// "spawn"). Always used for other executables and for a trampoline.
    case spawn
}

/// How to start a child: which executable, its name, whether it is a daemon.
public struct ProcessOptions: Sendable {
    /// The executable to start; this program itself when nil (Python's "spawn" method).
    /// ``Multiprocessing/defaultExecutable`` changes that default (tests use a helper binary).
    public var executable: String?
    /// Arguments after `argv[0]`.
    public var arguments: [String] = []
    /// The child's environment; this process's when nil. The runtime adds its `MP_` variables.
    public var environment: [String: String]?
    /// The child's working directory; this process's when nil.
    public var workingDirectory: String?
    /// The name in messages and `activeChildren()`. When nil, Python's default:
    /// "Process-N" (N counts the children this process started, from 1; a child's own
    /// children are "Process-N:M"), or "<Worker type>-N" for a ``Worker``, as Python names a
    /// `Process` subclass after its type.
    public var name: String?
    /// Terminated (not joined) when the parent exits, as Python's daemon processes.
    public var daemon = false
    /// How long `start` waits for the child's handshake.
    public var handshakeTimeout: Duration = .seconds(30)
    /// What happens to the child's standard output and error.
    public var output: OutputHandling = .inherit
    /// How the child is started: ``StartMethod/forkServer`` (the default) when it can be,
    /// else ``StartMethod/spawn``.
    public var startMethod: StartMethod = .forkServer
    /// Connections handed to the child at spawn with ``pass(_:as:)``; the child takes them
    /// with ``Connection/inherited(_:maxFrameSize:)``. The options hold the connection
    /// objects themselves, not bare descriptor numbers, so their descriptors are checked to
    /// be still open when the child is spawned.
    var passedConnections: [(label: String, connection: Connection)] = []

    /// The descriptors of the passed connections, by `MP_FDS` label (the spawn puts the
    /// arena's first, at fd 5); throws if a connection was closed after it was passed.
    func descriptorsForSpawn() throws(ConnectionError) -> [(label: String, descriptor: FileDescriptor)] {
        var result: [(label: String, descriptor: FileDescriptor)] = []
        for (label, connection) in passedConnections {
            guard !connection.isClosed else {
                throw ConnectionError(.closed, "the connection passed as \"\(label)\" was closed before the child was started")
            }
            // A one-way end passes the one descriptor it has.
            if connection.isReadable { result.append((label: Connection.inheritedLabel(label, .read), descriptor: connection.readEnd)) }
            if connection.isWritable { result.append((label: Connection.inheritedLabel(label, .write), descriptor: connection.writeEnd)) }
        }
        return result
    }

    public init(executable: String? = nil, arguments: [String] = [], environment: [String: String]? = nil,
                workingDirectory: String? = nil, name: String? = nil, daemon: Bool = false) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.name = name
        self.daemon = daemon
    }
}

/// What happens to a child's standard output and error.
public enum OutputHandling: Sendable, Hashable {
    /// They are this process's (the default, as in Python).
    case inherit
    /// Copied to this process's line by line, each line prefixed with the child's name.
    case prefixed
    /// Sent to `/dev/null`.
    case discard
    /// Each line (without its newline) given to a function, as it arrives: for a program that
    /// shows its children's output its own way (mpctl prefixes it with `stage[n] |` and keeps
    /// the last lines of each for its failure report). The function runs on an I/O thread: it
    /// must return quickly.
    case lines(ChildOutputLines)
}

/// The function of ``OutputHandling/lines(_:)``: receives each line a child writes to its
/// standard output or error. Two values are equal only when they are the same value.
///
/// ```swift
/// var options = ProcessOptions(name: "parse[0]")
/// options.output = .lines(ChildOutputLines { stream, line in
///     print("parse[0] | \(line)")
/// })
/// ```
public struct ChildOutputLines: Sendable, Hashable {
    /// Which of the child's streams a line came from.
    public enum Stream: Sendable, Hashable {
        case standardOutput
        case standardError
    }

    private final class Identity: Sendable {}
    private let identity = Identity()
    let deliver: @Sendable (Stream, String) -> Void

    public init(_ deliver: @escaping @Sendable (_ stream: Stream, _ line: String) -> Void) {
        self.deliver = deliver
    }

    public static func == (a: ChildOutputLines, b: ChildOutputLines) -> Bool { a.identity === b.identity }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(identity)) }
}

extension Multiprocessing {
    private static let executableOverride = Mutex<String?>(nil)

    /// The executable children are started from when ``ProcessOptions/executable`` is nil:
    /// this program (`/proc/self/exe`) unless set. Tests point it at a helper binary that
    /// registers the same entries (in `swift test`, this program is the test bundle).
    public static var defaultExecutable: String? {
        get { executableOverride.withLock { $0 } }
        set { executableOverride.withLock { $0 = newValue } }
    }

    /// The number of CPUs this process may run on (Python's `os.cpu_count()` as seen through
    /// the affinity mask).
    public static var cpuCount: Int { ProcessControl.cpuCount }
}

/// A child process: Python's `multiprocessing.Process`, started with `posix_spawn` of this
/// program (or another executable) and supervised.
///
/// ```swift
/// let square = ProcessFunction("square") { (x: Int) in x * x }
/// let squared = try await ChildProcess.run(square, 7)   // 49: start, result, join
/// let tally = try await ChildProcess.start(Tally.self)
/// print(tally.name)                                   // "Tally-2"
/// let sum: Int = try await tally.request(5)
/// tally.closeMailbox()                                // its mailbox ends: it returns
/// print(try await tally.join()!)                      // exited with code 0
/// try tally.close()                                   // releases the handle
/// ```
///
/// Names avoid Foundation's `Process`, so a program can import both.
// Unchecked only because the class is not final: its stored properties are a Sendable `let` and an `Atomic`.
public class ChildProcess: @unchecked Sendable, CustomStringConvertible, Hashable {
    // @unchecked only because the class is not final (its subclass ProcessTask types a
    // function's result): every stored property is a `let` of a Sendable type.
    let record: any ChildLink
    /// Set by ``close()``: later requests and messages are refused.
    private let closed = Atomic<Bool>(false)

    init(_ record: any ChildLink) { self.record = record }

    /// The id the supervisor gave it (its address for messages).
    public var id: UInt64 { record.id }
    /// Its process id.
    public var pid: Int32 { record.pid }
    /// Its name.
    public var name: String { record.name }
    /// Whether it is terminated rather than joined when the parent exits.
    public var isDaemon: Bool { record.daemon }
    /// Whether it has not exited yet.
    public var isAlive: Bool { record.status == nil }
    /// How it ended, once it did.
    public var status: TerminationStatus? { record.status }
    /// Python's `exitcode`: the exit code, or minus the signal that ended it; nil while alive.
    public var exitCode: Int32? {
        switch record.status {
        case .exited(let code): code
        case .signaled(let signal): -signal.rawValue
        case .unknown, .disconnected, nil: nil
        }
    }

    public var description: String {
        "ChildProcess(\(name), pid \(pid), \(record.status.map { "\($0)" } ?? "alive"))"
    }

    public static func == (a: ChildProcess, b: ChildProcess) -> Bool { a.record === b.record }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(record)) }

    // MARK: starting (on a given launcher; the public forms, in Runtime/, use the default runtime's)

    /// Starts a child running `function` with `arguments` on `launcher` (a runtime's
    /// supervisor); returns once its handshake is done and the arguments are on their way.
    static func start<each Input, Output>(_ function: ProcessFunction<repeat each Input, Output>, _ arguments: repeat each Input,
                                          options: ProcessOptions, on launcher: any ChildLauncher) async throws -> ProcessTask<Output> {
        let child = try await launcher.launch(entry: function.name, options: ProcessNames.assign(options, prefix: ProcessNames.processPrefix),
                                              trampoline: false)
        do {
            try child.record.sendArgument(ProcessArguments(repeat each arguments))
        } catch {
            child.kill()
            throw error
        }
        return ProcessTask(child, decodeResult: function.decodeResult)
    }

    /// Starts a long-lived ``Worker`` on `launcher`; returns once its handshake is done.
    static func start<W: Worker>(_ worker: W.Type, options: ProcessOptions, on launcher: any ChildLauncher) async throws -> ChildProcess {
        try await launcher.launch(entry: W.entryName, options: ProcessNames.assign(options, prefix: W.entryName), trampoline: false)
    }

    /// Starts a foreign executable on `launcher`, through a trampoline unless
    /// ``Multiprocessing/defaultExecutable`` is set.
    static func start(executable: String, arguments: [String], entry: String? = nil, options: ProcessOptions,
                      on launcher: any ChildLauncher) async throws -> ChildProcess {
        var options = options
        options.executable = executable
        options.arguments = arguments
        return try await launcher.launch(entry: entry, options: ProcessNames.assign(options, prefix: ProcessNames.processPrefix),
                                         trampoline: Multiprocessing.defaultExecutable == nil)
    }

    // MARK: results and requests

    /// The value `function` returned in this child, waiting up to `timeout` (nil: no limit;
    /// negative means zero; the child keeps running when it passes). The handle
    /// ``start(_:_:options:)`` returns says the same without naming the function
    /// (``ProcessTask/value``); this form serves a child reached otherwise
    /// (``activeChildren()``, an array of ``ChildProcess``).
    ///
    /// Throws a ``RemoteError`` if the function threw, a ``ProcessError`` if the child ended
    /// without answering (``ProcessError/Code/childExited``) or the timeout passed
    /// (``ProcessError/Code/timedOut``). Honours task cancellation.
    public func result<each Input, Output>(of function: ProcessFunction<repeat each Input, Output>,
                                           timeout: Duration? = nil) async throws -> Output {
        try await result(timeout: timeout, decode: function.decodeResult)
    }

    func result<Output>(timeout: Duration?, decode: @Sendable (FrameBody) throws -> Output) async throws -> Output {
        let body = try await record.functionReply(timeout: timeout.map(Self.clamped))
        if body.envelope.kind == .error { throw try body.decodePayload(RemoteError.self) }
        return try decode(body)
    }

    /// Sends `value` to this worker as a request and returns its reply, decoded as `R`, waiting
    /// up to `timeout` (nil: no limit; negative means zero). Throws ``ProcessError/Code/closed``
    /// after ``close()``.
    public func request<Q: Encodable & Sendable, R: Decodable>(_ value: Q, as type: R.Type = R.self,
                                                                timeout: Duration? = nil) async throws -> R {
        try checkOpen()
        return try Self.unpack(try await record.request(value, timeout: timeout.map(Self.clamped)), as: R.self)
    }

    /// Sends `value` to this worker as a one-way message: its mailbox gets it as a
    /// ``WorkerEvent/message(from:_:)`` from 0 (the parent). Throws
    /// ``ProcessError/Code/closed`` after ``close()``.
    public func send<M: Encodable & Sendable>(_ value: M) throws {
        try checkOpen()
        try record.sendMessage(value)
    }

    private static func unpack<R: Decodable>(_ body: FrameBody, as type: R.Type) throws -> R {
        if body.envelope.kind == .error { throw try body.decodePayload(RemoteError.self) }
        return try body.decodePayload(R.self)
    }

    /// A negative timeout means zero, as in Python.
    static func clamped(_ timeout: Duration) -> Duration { max(timeout, .zero) }

    private func checkOpen() throws {
        if isClosed { throw ProcessError(.closed, "\(name) (pid \(pid)): the handle was closed") }
    }

    // MARK: lifecycle

    /// Waits until the child exits and returns how it ended; nil if `timeout` passed first
    /// (the child keeps running, as with Python's `join(timeout)`; a negative timeout means
    /// zero). Honours task cancellation.
    @discardableResult
    public func join(timeout: Duration? = nil) async throws -> TerminationStatus? {
        try await record.waitForExit(timeout: timeout.map(Self.clamped))
    }

    /// Asks it to stop: SIGTERM, through its pidfd (a recycled pid is never signalled).
    public func terminate() { record.send(.terminate) }

    /// Stops it at once: SIGKILL, through its pidfd.
    public func kill() { record.send(.kill) }

    /// Says `goodbye` to it (Protocols/PROTOCOL.md, Conversation): a worker finishes the work
    /// it has, says goodbye and exits 0. ``join(timeout:)`` then tells how it ended.
    public func sayGoodbye() {
        let record = record
        record.loop.execute { record.write(Envelope(.goodbye, from: Envelope.supervisor, to: record.id), Goodbye(status: 0)) }
    }

    /// Ends a worker's mailbox: the supervisor closes its side of the channel, the worker's
    /// `requests`/`events` sequences end, and it returns. (Named for what it does: Python's
    /// `close()` releases the handle, which is ``close()`` here.)
    public func closeMailbox() { record.closeChannel() }

    /// Releases the handle, as Python's `Process.close()`: the supervisor's side of the
    /// channel closes, and later requests and messages throw ``ProcessError/Code/closed``
    /// (its name, pid and status stay readable). Throws ``ProcessError/Code/stillRunning``
    /// (Python's `ValueError`) while the child runs: join or kill it first. Closing again
    /// does nothing.
    public func close() throws {
        if isAlive {
            throw ProcessError(.stillRunning, "cannot close \(name) (pid \(pid)): it is still running; join or kill it first")
        }
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        record.closeChannel()
    }

    /// Whether ``close()`` released this handle.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }


    /// Waits until at least one of `children` has exited (or `timeout` passes) and returns those
    /// that have: Python's `multiprocessing.connection.wait` over process sentinels.
    /// ``Multiprocessing/wait(for:timeout:)`` waits for children and connections together.
    /// The children may be ``ChildProcess``es or ``ProcessTask``s (one kind per call); a
    /// negative timeout means zero.
    public static func waitForAny<Child: Waitable>(_ children: [Child], timeout: Duration? = nil) async throws -> [Child] {
        try await Multiprocessing.wait(for: children, timeout: timeout).map { $0 as! Child }
    }
}
