import MessagePack

/// The frames of a remote peer's connection besides the manager's (Protocols/PROTOCOL.md,
/// "Remote peers"): kinds 96...111, capability "remote". After the authentication handshake
/// the server speaks first, with ``welcome``; then the client's frames are manager frames
/// (kinds 64...95) with the common envelope, answered by `reply` or `error`.
enum RemoteWire {
    /// The kinds remote peers own.
    static let kinds: ClosedRange<UInt8> = 96...111
    /// What a server of remote peers announces.
    static let capability = "remote"
    /// Server to client, once, first: `[client id: uint, version: uint, capabilities: [str]]`,
    /// envelope `[96, flags 0, source 0, destination client id, correlation 0]`. The id is the
    /// source the client's frames carry and the one its proxies name as "from".
    static let welcome: UInt8 = 96
    /// The remote protocol's version.
    static let version: UInt64 = 1

    /// The whole welcome frame (length prefix included) for `client`.
    static func welcomeFrame(client: UInt64) -> [UInt8] {
        var payload: [UInt8] = []
        payload.packArrayHeader(3)
        payload.packUInt(client)
        payload.packUInt(version)
        payload.packArrayHeader(2)
        payload.packString(ManagerWire.capability)
        payload.packString(capability)
        return payload.withUnsafeBytes {
            ManagerWire.frame(Envelope(Envelope.Kind(rawValue: UInt64(welcome)), from: Envelope.supervisor, to: client), payload: $0)
        }
    }

    /// The client id a welcome frame's body (without its length prefix) gives, or
    /// ``ManagerError/Code/protocolViolation`` saying what came instead.
    static func clientID(fromWelcome body: [UInt8]) throws(ManagerError) -> UInt64 {
        let id: UInt64? = body.withUnsafeBytes { raw in
            guard let split = try? Envelope.split(raw), split.envelope.kind.rawValue == UInt64(welcome) else { return nil }
            var reader = MessagePackReader(split.payload)
            guard let count = try? reader.readArrayHeader(), count >= 2, let id = try? reader.readUInt(),
                  let version = try? reader.readUInt(), version >= 1 else { return nil }
            return id
        }
        guard let id else {
            throw ManagerError(.protocolViolation, "the server's first frame is not a remote welcome [client, version, capabilities] (\(body.count) bytes): is it a manager server?")
        }
        return id
    }
}
