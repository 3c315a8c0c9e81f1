/// Why a ``RemoteWorkerLauncher`` stopped: a struct with an extensible ``Code`` (STYLE.md).
///
/// ```swift
/// do { try await launcher.run() }
/// catch let error as RemoteWorkerError where error.code == .authentication { print("wrong key: \(error)") }
/// ```
public struct RemoteWorkerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The server refused the key (an ``AuthenticationError``): retrying cannot help.
        public static let authentication = Code("authentication")
        /// The server could not be reached (or refused the join) for longer than the give-up time.
        public static let unreachable = Code("unreachable")
        /// The worker ended more than `intensity` times within `period`.
        public static let intensityExceeded = Code("intensityExceeded")
        /// The worker process could not be started.
        public static let spawnFailed = Code("spawnFailed")
        /// An argument made no sense (an empty key, a negative intensity).
        public static let invalidArgument = Code("invalidArgument")
    }

    public var code: Code
    public var message: String
    /// How the worker's last run ended, when it ran.
    public var lastStatus: TerminationStatus?

    public init(_ code: Code, _ message: String, lastStatus: TerminationStatus? = nil) {
        self.code = code
        self.message = message
        self.lastStatus = lastStatus
    }

    public var description: String { "RemoteWorkerError.\(code): \(message)" }
}
