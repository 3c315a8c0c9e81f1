/// An error of a ``Connection``: the peer went away, a frame was too large or did not decode,
/// a wait timed out, the connection was used after ``Connection/close()``.
///
/// A struct with an extensible ``Code`` (as ``ProcessError``): compare codes with `==`.
///
/// ```swift
/// do { let reading = try connection.receive(Reading.self, timeout: .seconds(1)) }
/// catch let error as ConnectionError where error.code == .peerClosed { /* Python's EOFError */ }
/// ```
public struct ConnectionError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// This end was closed with ``Connection/close()`` (or, for a wait that was in
        /// progress, while it waited).
        public static let closed = Code("closed")
        /// The peer closed its end: end of stream at a frame boundary while receiving (Python's
        /// `EOFError`), or a broken pipe while sending (Python's `BrokenPipeError`).
        public static let peerClosed = Code("peerClosed")
        /// The stream ended inside a frame (inside its 4-byte header or its body): the peer
        /// died or closed in the middle of a message.
        public static let truncatedFrame = Code("truncatedFrame")
        /// A frame above the connection's ``Connection/maxFrameSize``: an incoming header that
        /// announces one (the stream's framing is then lost, and every later receive fails the
        /// same way), or a value to send that encodes to one (nothing is sent).
        public static let frameTooLarge = Code("frameTooLarge")
        /// A frame that does not decode as the type asked for. The frame is consumed; the
        /// connection stays usable.
        public static let decodingFailed = Code("decodingFailed")
        /// A value that could not be encoded. Nothing is sent.
        public static let encodingFailed = Code("encodingFailed")
        /// A wait ran past its timeout. Bytes of a frame received so far stay buffered for the
        /// next receive.
        public static let timedOut = Code("timedOut")
        /// A label that cannot be passed to a child, or another argument
        /// that makes no sense.
        public static let invalidArgument = Code("invalidArgument")
        /// Another receive (or send) is in progress on this end: each direction of an end is
        /// used by one caller at a time. Python's `Connection` has the same rule without the
        /// check (its data gets corrupted).
        public static let busy = Code("busy")
        /// ``Connection/inherited(_:maxFrameSize:)`` found no connection under that label (or
        /// it was already taken in this process).
        public static let notInherited = Code("notInherited")
        /// ``Connection/receiveBytes(into:timeout:)`` got a message larger than the buffer
        /// (Python's `BufferTooShort`): the message is in ``ConnectionError/receivedBytes``,
        /// consumed from the stream, and the buffer is untouched.
        public static let bufferTooShort = Code("bufferTooShort")
        /// A send on the reader, or a receive or poll on the writer, of a one-way pair
        /// (``Connection/pair(duplex:maxFrameSize:)``).
        public static let wrongDirection = Code("wrongDirection")
        /// A system call failed; ``ConnectionError/underlyingError`` says which and why.
        public static let systemCallFailed = Code("systemCallFailed")
    }

    /// What went wrong.
    public var code: Code
    /// A sentence naming what was wrong.
    public var message: String
    /// The error behind this one, if any: a ``SystemError``, a `DecodingError`, an
    /// `EncodingError`, a ``MessagePackError``.
    public var underlyingError: (any Error)?
    /// The message that did not fit, for ``Code/bufferTooShort``; nil otherwise.
    public var receivedBytes: [UInt8]?

    public init(_ code: Code, _ message: String, underlyingError: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlyingError = underlyingError
    }

    public var description: String {
        if let underlyingError { return "\(code): \(message) (\(underlyingError))" }
        return "\(code): \(message)"
    }
}

extension ConnectionError {
    static let closedEnd = ConnectionError(.closed, "the connection is closed")

    static func wrongDirection(_ direction: Connection.Direction) -> ConnectionError {
        direction == .receive ? ConnectionError(.wrongDirection, "this end of a one-way connection only sends: it cannot receive or poll")
                              : ConnectionError(.wrongDirection, "this end of a one-way connection only receives: it cannot send")
    }

    static func system(_ error: SystemError, _ what: String) -> ConnectionError {
        if error.underlyingError == .brokenPipe || error.underlyingError == .connectionReset {
            return ConnectionError(.peerClosed, "the peer closed its end: \(what) failed", underlyingError: error)
        }
        return ConnectionError(.systemCallFailed, "\(what) failed", underlyingError: error)
    }
}
