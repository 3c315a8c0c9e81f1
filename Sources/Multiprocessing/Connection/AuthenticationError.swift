/// A peer that did not pass the authentication handshake of a ``Listener`` or a
/// ``Client(address:authkey:timeout:maxFrameSize:)``: Python's
/// `multiprocessing.AuthenticationError`. The connection is closed when this is thrown.
///
/// ```swift
/// do { let connection = try await listener.accept() }
/// catch let error as AuthenticationError where error.code == .rejected { /* a wrong key */ }
/// ```
public struct AuthenticationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the handshake failed. Extensible: compare with `==`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The keys differ: the digest received was wrong, or ours was refused (`#FAILURE#`).
        public static let rejected = Code(rawValue: "rejected")
        /// The peer sent something the handshake does not allow: no `#CHALLENGE#`, a digest
        /// other than `{sha256}` (an HMAC-MD5 answer of Python 3.11 and older among them),
        /// an answer of the wrong length.
        public static let protocolViolation = Code(rawValue: "protocolViolation")
        /// A frame before authentication announced more than
        /// ``AuthenticationLimits/maxFrameSize`` bytes (refused before anything is allocated).
        public static let frameTooLarge = Code(rawValue: "frameTooLarge")
        /// The handshake did not finish within its time limit (a slow or silent peer).
        public static let timedOut = Code(rawValue: "timedOut")
        /// The peer closed the connection in the middle of the handshake.
        public static let peerClosed = Code(rawValue: "peerClosed")
        /// The handshake was cancelled: its ``Listener`` closed, or the waiting task was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// Reading or writing the socket failed; the message names the call.
        public static let systemCallFailed = Code(rawValue: "systemCallFailed")
    }

    /// Why the handshake failed.
    public var code: Code
    /// A sentence naming what was wrong, and with whom.
    public var message: String
    /// The peer's address ("127.0.0.1:50312", a Unix path or "unnamed Unix socket"), when known.
    public var peer: String?

    /// An error of `code`, with a sentence naming what was wrong.
    public init(_ code: Code, _ message: String, peer: String? = nil) {
        self.code = code
        self.message = message
        self.peer = peer
    }

    /// "rejected: the digest received was wrong (peer 127.0.0.1:50312)".
    public var description: String {
        if let peer { return "\(code): \(message) (peer \(peer))" }
        return "\(code): \(message)"
    }
}

/// The limits a handshake holds an unauthenticated peer to.
public enum AuthenticationLimits {
    /// The largest frame read before authentication, as Python's `recv_bytes(256)`.
    public static let maxFrameSize = 256
    /// The default time a peer has to complete the handshake: a slow peer is cut off then.
    public static let defaultTimeout: Duration = .seconds(5)
}
