import Crypto

/// The challenge and response of Python's `multiprocessing.connection` (CPython 3.12 and
/// later), HMAC-SHA256 only, run in both directions before a ``Listener`` or a
/// ``Client(address:authkey:timeout:maxFrameSize:)`` hands out a ``Connection``.
///
/// One direction (`deliver` on one side, `answer` on the other), each message one frame:
/// 1. the deliverer sends `#CHALLENGE#{sha256}` + 40 random bytes;
/// 2. the answerer sends `{sha256}` + HMAC-SHA256(authkey, everything after `#CHALLENGE#`);
/// 3. the deliverer compares in constant time and sends `#WELCOME#` or `#FAILURE#`.
///
/// The listener delivers then answers; the client answers then delivers (Python's order), so
/// each side proves it holds the key. Every frame is at most 256 bytes and the whole handshake
/// has one deadline (``HandshakeStream``). Python 3.11 and older answer with a bare HMAC-MD5
/// and challenge without a digest name: both are refused (``AuthenticationError/Code/protocolViolation``),
/// as a downgrade this side does not take.
enum Authentication {
    static let challenge = Array("#CHALLENGE#".utf8)
    static let welcome = Array("#WELCOME#".utf8)
    static let failure = Array("#FAILURE#".utf8)
    static let digestName = Array("{sha256}".utf8)
    /// Random bytes in a challenge, as Python's `MESSAGE_LENGTH`.
    static let randomLength = 40
    /// The shortest challenge payload Python answers (a legacy one has exactly this many bytes).
    static let legacyChallengeLength = 20

    /// The listener's side: challenge the peer, then answer its challenge.
    static func authenticatePeer(_ stream: HandshakeStream, key: SymmetricKey) async throws(AuthenticationError) {
        try await deliverChallenge(stream, key: key)
        try await answerChallenge(stream, key: key)
    }

    /// The client's side: answer the listener's challenge, then challenge it.
    static func authenticateToListener(_ stream: HandshakeStream, key: SymmetricKey) async throws(AuthenticationError) {
        try await answerChallenge(stream, key: key)
        try await deliverChallenge(stream, key: key)
    }

    /// Python's `deliver_challenge(connection, authkey, 'sha256')`.
    static func deliverChallenge(_ stream: HandshakeStream, key: SymmetricKey) async throws(AuthenticationError) {
        var random = SystemRandomNumberGenerator()   // getrandom(2): cryptographically secure
        let message = digestName + (0..<randomLength).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        try await stream.send(challenge + message)
        let response = try await stream.receive()
        let mac = response.dropFirst(digestName.count)
        guard response.starts(with: digestName), mac.count == SHA256.byteCount else {
            try? await stream.send(failure)
            if response.count == 16 {
                throw stream.failure(.protocolViolation, "the peer answered with a bare HMAC-MD5 (Python 3.11 or older); only {sha256} is accepted")
            }
            throw stream.failure(.protocolViolation, "the answer to the challenge is not {sha256} and a 32-byte digest (\(response.count) bytes)")
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: key) else {
            try? await stream.send(failure)
            throw stream.failure(.rejected, "the digest received was wrong: the peer holds another authkey")
        }
        try await stream.send(welcome)
    }

    /// Python's `answer_challenge(connection, authkey)`, for a `{sha256}` challenge.
    static func answerChallenge(_ stream: HandshakeStream, key: SymmetricKey) async throws(AuthenticationError) {
        let received = try await stream.receive()
        guard received.starts(with: challenge) else {
            throw stream.failure(.protocolViolation, "expected #CHALLENGE#, got \(received.count) other bytes")
        }
        let message = Array(received.dropFirst(challenge.count))
        guard message.count >= legacyChallengeLength else {
            throw stream.failure(.protocolViolation, "the challenge is too short: \(message.count) bytes")
        }
        guard message.starts(with: digestName) else {
            if message.count == legacyChallengeLength {
                throw stream.failure(.protocolViolation, "a legacy HMAC-MD5 challenge (Python 3.11 or older); only {sha256} is answered")
            }
            throw stream.failure(.protocolViolation, "the challenge names a digest other than {sha256}")
        }
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        try await stream.send(digestName + Array(mac))
        let verdict = try await stream.receive()
        guard verdict == welcome else {
            if verdict == failure {
                throw stream.failure(.rejected, "the digest sent was rejected: the peer holds another authkey")
            }
            throw stream.failure(.protocolViolation, "expected #WELCOME# or #FAILURE#, got \(verdict.count) other bytes")
        }
    }
}
