/// The flow-control feature of the protocol (Protocols/PROTOCOL.md, "Flow control").
///
/// Backpressure applies to new requests and messages only: replies, errors and control frames
/// always travel at once, so a request handler that itself waits for an answer (a nested
/// request, a queue get) never waits behind the requests that wait for it.
enum FlowControl {
    /// The capability a peer announces in its hello when it speaks ``Envelope/Kind/pause`` and
    /// ``Envelope/Kind/resume``.
    static let capability = "flow"
    /// Whether a frame of this kind is held back by flow control (anything else goes at once).
    static func isHeld(_ kind: Envelope.Kind) -> Bool { kind == .request || kind == .message }
    /// Bytes of held requests and messages for one child past which their senders are paused.
    static let heldBudget = 8 << 20
    /// Held bytes at or below which paused senders are resumed.
    static let heldResumeMark = 2 << 20
    /// The most held bytes written to a child in one write, before writability is looked at again.
    static let releaseChunk = 256 << 10
}
