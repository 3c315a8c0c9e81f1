/// Whether a child is restarted when it ends (Erlang/OTP's `restart` of a child spec).
public enum RestartPolicy: Sendable, Hashable {
    /// Always restarted.
    case permanent
    /// Restarted only when it ends abnormally (not `exit(0)`).
    case transient
    /// Never restarted (what ``ChildProcess/start(_:_:options:)`` gives).
    case temporary
}

/// How a supervisor stops a child (OTP's `shutdown`): every way ends in SIGKILL.
public enum ShutdownPolicy: Sendable, Hashable {
    /// SIGKILL at once.
    case brutalKill
    /// SIGTERM, then SIGKILL if the child is still alive after the duration (OTP's default
    /// for workers is 5 seconds).
    case timeout(Duration)
}

/// Which children a supervisor restarts when one ends and must be restarted.
public enum RestartStrategy: Sendable, Hashable {
    /// Only that child.
    case oneForOne
    /// Every child: the others are stopped (in reverse start order), then all start again.
    case oneForAll
    /// That child and every child started after it.
    case restForOne
}

/// One child of a ``Supervisor``: its id, how to start it, and the policies for its end.
///
/// ```swift
/// let specs: [ChildSpec] = [
///     .worker("tally", Tally.self),                                  // permanent
///     .function("warm-up", warmUp, 10, restart: .transient),
///     .executable("python-echo", "/usr/bin/python3", arguments: ["worker.py"]),
/// ]
/// ```
public struct ChildSpec: Sendable {
    /// The child's id, unique within its supervisor; also its process name.
    public var id: String
    public var restart: RestartPolicy
    public var shutdown: ShutdownPolicy
    public var options: ProcessOptions
    /// Starts the child on the supervisor's launcher (its runtime's supervisor).
    let start: @Sendable (ProcessOptions, any ChildLauncher) async throws -> ChildProcess

    /// A ``Worker`` type (permanent by default: a worker is meant to stay up).
    public static func worker<W: Worker>(_ id: String, _ type: W.Type, restart: RestartPolicy = .permanent,
                                         shutdown: ShutdownPolicy = .timeout(.seconds(5)),
                                         options: ProcessOptions = .init()) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, options: options) { options, launcher in
            try await ChildProcess.start(type, options: options, on: launcher)
        }
    }

    /// A ``ProcessFunction`` run with `input` (transient by default: done once it returned).
    public static func function<Input, Output>(_ id: String, _ function: ProcessFunction<Input, Output>, _ input: Input,
                                               restart: RestartPolicy = .transient,
                                               shutdown: ShutdownPolicy = .timeout(.seconds(5)),
                                               options: ProcessOptions = .init()) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, options: options) { options, launcher in
            try await ChildProcess.start(function, input, options: options, on: launcher)
        }
    }

    /// Any executable that speaks Protocols/PROTOCOL.md on fds 3 and 4. For another Swift
    /// program built on this library, `entry` names the function or ``Worker`` it should run
    /// (its `MP_ENTRY`); nil for a program that speaks the protocol by itself.
    public static func executable(_ id: String, _ path: String, arguments: [String] = [], entry: String? = nil,
                                  restart: RestartPolicy = .permanent,
                                  shutdown: ShutdownPolicy = .timeout(.seconds(5)), options: ProcessOptions = .init()) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, options: options) { options, launcher in
            try await ChildProcess.start(executable: path, arguments: arguments, entry: entry, options: options, on: launcher)
        }
    }
}

/// What happened in a supervisor, in order: for logs, dashboards and tests.
public enum SupervisorEvent: Sendable, Hashable {
    case started(id: String, pid: Int32)
    case exited(id: String, status: TerminationStatus)
    case restarting(id: String)
    /// Restart intensity was exceeded: every child was stopped and the supervisor gave up.
    case gaveUp(id: String)
    /// ``Supervisor/shutdown()`` stopped every child.
    case stopped
}

/// Why a supervisor stopped on its own.
public struct SupervisorError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }
        /// More restarts than the intensity allows within the period.
        public static let intensityExceeded = Code("intensityExceeded")
        /// A child could not be started.
        public static let startFailed = Code("startFailed")
        /// Two children share an id.
        public static let duplicateID = Code("duplicateID")
    }

    public var code: Code
    /// The child it is about.
    public var childID: String
    public var message: String

    public var description: String { "\(code) (\(childID)): \(message)" }
}
