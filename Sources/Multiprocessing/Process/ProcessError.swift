import MessagePack

/// An error of the process layer: a child that could not start, a handshake that failed, a
/// result that never came. A struct with an extensible ``Code`` (STYLE.md).
///
/// ```swift
/// do { _ = try await ChildProcess.run(square, 7, options: .init(executable: "/nope")) }
/// catch let error as ProcessError where error.code == .spawnFailed { print(error) }
/// ```
public struct ProcessError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The executable could not be started (missing, not executable, ...).
        public static let spawnFailed = Code("spawnFailed")
        /// The entry is not registered: refused before spawning when this process does not
        /// register it, or reported by a child whose executable does not.
        public static let unknownEntry = Code("unknownEntry")
        /// The child ended or broke the protocol before the handshake was done.
        public static let handshakeFailed = Code("handshakeFailed")
        /// The child ended before it answered.
        public static let childExited = Code("childExited")
        /// The supervisor disconnected the child (garbage or an oversized frame).
        public static let disconnected = Code("disconnected")
        /// An await ran past its timeout.
        public static let timedOut = Code("timedOut")
        /// Two entries share a name.
        public static let duplicateEntry = Code("duplicateEntry")
        /// A timeout was negative, or another argument made no sense.
        public static let invalidArgument = Code("invalidArgument")
        /// A child was started before ``Multiprocessing/bootstrap(functions:workers:)`` ran in
        /// this process: the message says what to call, and where.
        public static let notBootstrapped = Code("notBootstrapped")
        /// The supervisor's runtime could not start (a resource limit such as
        /// `RLIMIT_NOFILE`); ``ProcessError/underlyingError`` says which. The next start
        /// tries again.
        public static let supervisorUnavailable = Code("supervisorUnavailable")
        /// A request, argument, message, reply or result encodes to more than the maximum
        /// frame: the message names the size and the limit. Nothing was sent; the channel
        /// stays usable.
        public static let messageTooLarge = Code("messageTooLarge")
        /// The child is still running: ``ChildProcess/close()`` refuses (Python's `ValueError`).
        public static let stillRunning = Code("stillRunning")
        /// The handle was released with ``ChildProcess/close()``.
        public static let closed = Code("closed")
    }

    public var code: Code
    public var message: String
    /// The exit status of the child, when it had ended.
    public var status: TerminationStatus?
    /// The system error behind it, if any.
    public var underlyingError: SystemError?

    public init(_ code: Code, _ message: String, status: TerminationStatus? = nil, underlyingError: SystemError? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.underlyingError = underlyingError
    }

    public var description: String { "\(code): \(message)" }
}

extension ProcessError {
    /// `error` as the runtime reports it: MessagePack's `frameTooLarge` from a writer becomes
    /// ``Code/messageTooLarge`` naming `what` ("a request"), its size and `limit`; any other
    /// error is returned as it is.
    static func sizeChecked(_ error: any Error, _ what: String, limit: Int) -> any Error {
        guard let error = error as? MessagePackError, error.code == .frameTooLarge else { return error }
        let size = error.size.map { "\($0) bytes" } ?? "more bytes"
        return ProcessError(.messageTooLarge, "\(what) of \(size) is above the maximum frame of \(limit) bytes; nothing was sent")
    }
}
