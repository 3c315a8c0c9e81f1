import MessagePack

/// The first frame of a remote worker's connection after the authentication handshake
/// (Protocols/PROTOCOL.md, "Remote workers"): the launcher says who joins, the server answers
/// with ``acceptedKind`` (98, payload nil), and only then does the launcher hand the socket to
/// the worker process, which speaks the ordinary child protocol (hello, welcome, frames).
/// The answer keeps the worker's hello out of the server's read of the join: a byte read past
/// the join would be lost when the socket moves to the supervisor's loop. Kind ``kind`` (97, the remote peers' range), envelope
/// `[97, flags 0, source 0, destination 0, correlation 0]`, payload
/// `{"version": 1, "name": str, "host": str, "launcher": pid}`.
struct RemoteJoin: Codable, Hashable, Sendable {
    /// The kind of the join frame.
    static let kind: UInt8 = 97
    /// The server's answer to a join: the worker may start.
    static let acceptedKind: UInt8 = 98
    /// The remote workers' protocol version.
    static let currentVersion = 1

    var version: Int
    /// The worker's name on the supervisor's side.
    var name: String
    /// The launcher's host name, for messages.
    var host: String
    /// The launcher's pid on its host.
    var launcher: Int32

    init(version: Int = currentVersion, name: String, host: String, launcher: Int32) {
        self.version = version
        self.name = name
        self.host = host
        self.launcher = launcher
    }

    /// The frame's body (envelope and payload, no length prefix), as `Connection` sends it.
    func body() throws -> [UInt8] {
        let payload = try MessagePackEncoder().encode(self)
        let frame = payload.withUnsafeBytes { ManagerWire.frame(Envelope(Envelope.Kind(rawValue: UInt64(Self.kind)), from: Envelope.supervisor, to: Envelope.supervisor), payload: $0) }
        return Array(frame[4...])
    }

    /// The body of the server's answer to a join (its payload is nil, 0xc0).
    static let acceptedBody: [UInt8] = {
        let payload: [UInt8] = [0xc0]
        return payload.withUnsafeBytes {
            Array(ManagerWire.frame(Envelope(Envelope.Kind(rawValue: UInt64(acceptedKind)), from: Envelope.supervisor, to: Envelope.supervisor), payload: $0)[4...])
        }
    }()

    /// Whether `body` is the server's answer to a join.
    static func isAccepted(_ body: [UInt8]) -> Bool {
        body.withUnsafeBytes { raw in (try? Envelope.split(raw))?.envelope.kind.rawValue == UInt64(acceptedKind) }
    }

    /// Reads a join frame's body; ``ProcessError/Code/handshakeFailed`` saying what came instead.
    init(body: [UInt8]) throws(ProcessError) {
        let decoded: RemoteJoin? = body.withUnsafeBytes { raw in
            guard let split = try? Envelope.split(raw), split.envelope.kind.rawValue == UInt64(Self.kind) else { return nil }
            return try? MessagePackDecoder().decode(RemoteJoin.self, from: Array(split.payload))
        }
        guard let decoded, decoded.version >= 1 else {
            throw ProcessError(.handshakeFailed, "the first frame after authentication is not a remote worker's join (kind \(Self.kind), {version, name, host, launcher}; \(body.count) bytes)")
        }
        self = decoded
    }
}
