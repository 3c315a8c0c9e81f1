import MessagePack
import NIOCore

/// What a child's channel handler hands that child's frames to, and where it finds the workers
/// it forwards to: the supervisor's side of one child (``ChildRecord``), or a test's stand-in,
/// so the handler runs on an `EmbeddedChannel` without a live child. Called on the channel's
/// event loop.
protocol ChildFrameSink: ServicePeer {
    /// The live worker with `id`, for frames addressed to it.
    func worker(_ id: UInt64) -> Self?
    /// Whether a request or message may be written to it now rather than held (ChildFlow).
    var takesHeldKindsAtOnce: Bool { get }
    /// Requests or messages for it from `source`: written at once, or held (ChildFlow).
    func deliverHeldKind(_ frames: inout ByteBuffer, from source: Self?)
    /// Writes whole frames forwarded to it by other workers.
    func forward(_ frames: ByteBuffer)
    /// A frame of a core kind for the supervisor itself (hello, replies, pause, monitor...).
    func received(_ body: FrameBody)
    /// A frame whose source is not this child's id.
    func refuseWrongSource(_ envelope: Envelope)
    /// A frame addressed to a worker that does not exist.
    func refuseUnknownDestination(_ envelope: Envelope)
    /// A body that is not an envelope and a payload; false when the child was disconnected for it.
    func refuseMalformedBody(_ error: FrameBodyError) -> Bool
    /// The child broke the framing: its conversation ends.
    func disconnect(reason: String)
    /// Its channel can take writes again: held frames go out.
    func channelWritable()
    /// Its channel was read to the end (or failed).
    func channelEnded()
    /// This read forwarded frames to other workers (their answers tend to follow at once).
    func forwardedFrames()
}
