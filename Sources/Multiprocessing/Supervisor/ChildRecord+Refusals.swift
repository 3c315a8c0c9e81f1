import MessagePack

/// What the supervisor does with a frame it refuses from a welcomed child (Protocols/PROTOCOL.md,
/// Errors): the frame is dropped and reported on standard error, the child stays connected,
/// and a request (or monitor) gets the `error` the protocol prescribes. Nothing answers a
/// `reply`, an `error` or a `down`, so no exchange can loop.
extension ChildRecord {
    /// Writes one line to standard error, in the runtime's `[supervisor] name (pid N)` style.
    func report(_ what: String) {
        RuntimeLog.warning("[supervisor] \(name) (pid \(pid)) \(what)", metadata: ["worker": "\(name)", "pid": "\(pid)"])
    }

    /// Whether the frame's kind expects an answer (so a refusal is answered, not only reported).
    static func expectsAnswer(_ kind: Envelope.Kind) -> Bool { kind == .request || kind == .monitor }

    /// Refuses a frame whose source is not this child's id: reported, answered if it expects
    /// an answer. A reply with a forged source is never taken as the answer to a request.
    func refuseWrongSource(_ envelope: Envelope) {
        report("sent a \(envelope.kind) with source \(envelope.source) on the channel of worker \(id) (dropped)")
        if Self.expectsAnswer(envelope.kind) {
            write(Envelope(.error, from: Envelope.supervisor, to: id, correlation: envelope.correlation),
                  RemoteError.wrongSource(envelope.source, expected: id))
        }
    }

    /// A frame addressed to a worker that does not exist: a request is answered
    /// `unknownDestination`, anything else reported and dropped.
    func refuseUnknownDestination(_ envelope: Envelope) {
        if envelope.kind == .request {
            write(Envelope(.error, from: Envelope.supervisor, to: id, correlation: envelope.correlation),
                  RemoteError.unknownDestination(envelope.destination))
        } else {
            report("sent a \(envelope.kind) to worker \(envelope.destination), which does not exist (dropped)")
        }
    }

    /// A body that is not an envelope and a payload, after the welcome: framing is intact, so
    /// it is dropped and reported and the child stays (before the welcome it is disconnected).
    /// Returns false when the child was disconnected.
    func refuseMalformedBody(_ error: FrameBodyError) -> Bool {
        guard isWelcomed else {
            disconnect(reason: "sent a malformed frame before its welcome: \(error)")
            return false
        }
        report("sent a malformed frame body (dropped): \(error)")
        return true
    }

    /// A kind this supervisor does not know (a later version's): the `error` the protocol
    /// prescribes, to the frame's source with its correlation, unless it answers something.
    func refuseUnknownKind(_ envelope: Envelope) {
        report("sent a frame of unknown \(envelope.kind) (dropped)")
        guard envelope.kind != .reply, envelope.kind != .error, envelope.kind != .down else { return }
        write(Envelope(.error, from: Envelope.supervisor, to: id, correlation: envelope.correlation),
              RemoteError.unknownKind(envelope.kind))
    }
}
