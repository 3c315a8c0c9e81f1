import MessagePack
import NIOCore

/// The supervisor's flow state for one child (confined to the supervisor's event loop, as the
/// ``ChildRecord`` that owns it).
///
/// Requests and messages for the child wait here, in arrival order, while the child asked to
/// be paused or its channel is not writable; past ``FlowControl/heldBudget`` their senders are
/// paused: a child that speaks flow control gets a `pause` frame (its session then makes new
/// requests and sends wait), a foreign child has its reading stopped (version-1 behaviour),
/// and the parent's own requests and messages wait on the loop.
final class ChildFlow {
    /// The child announced ``FlowControl/capability`` in its hello.
    var speaksFlowControl = false
    /// The child asked to hold its requests and messages (it sent `pause`, not yet `resume`).
    var mailboxPaused = false
    /// Whole frames waiting for the child.
    private var held = ByteBufferAllocator().buffer(capacity: 0)
    /// Children paused as senders because of what waits here.
    private var pausedSources: [ChildRecord] = []
    /// The parent's requests and messages waiting for the held frames to drain.
    private var parentWaiters: [() -> Void] = []
    /// How many destinations hold this child's frames past their budget: it is paused as a
    /// sender while this is above 0.
    var pausedBy = 0

    var heldBytes: Int { held.readableBytes }
    var overBudget: Bool { held.readableBytes > FlowControl.heldBudget }

    /// Whether a request or message may be written to `channel` now rather than held.
    func acceptsAtOnce(_ channel: (any Channel)?) -> Bool {
        !mailboxPaused && held.readableBytes == 0 && (channel?.isWritable ?? true)
    }

    /// Keeps `frame` (whole frames) until the child takes requests again; returns whether the
    /// held bytes are now past the budget.
    func hold(_ frame: inout ByteBuffer) -> Bool {
        held.writeBuffer(&frame)
        return overBudget
    }

    /// Remembers `source` as paused for this child's sake; false if it already was.
    func addPausedSource(_ source: ChildRecord) -> Bool {
        guard !pausedSources.contains(where: { $0 === source }) else { return false }
        pausedSources.append(source)
        return true
    }

    /// Runs `body` once the held bytes are within budget (at once if they are).
    func whenWithinBudget(_ body: @escaping () -> Void) {
        if overBudget { parentWaiters.append(body) } else { body() }
    }

    /// Takes the next run of whole held frames, at most ``FlowControl/releaseChunk`` bytes
    /// unless one frame is larger; nil when nothing is held.
    func takeChunk() -> ByteBuffer? {
        guard held.readableBytes > 0 else { return nil }
        var length = 0
        while length < FlowControl.releaseChunk, length + 4 <= held.readableBytes {
            let frame = Int(held.getInteger(at: held.readerIndex + length, as: UInt32.self)!)
            length += 4 + frame
        }
        let chunk = held.readSlice(length: min(length, held.readableBytes))!
        if held.readableBytes == 0 {
            // Give the memory back: the slice keeps the old storage alive only until written.
            held = ByteBufferAllocator().buffer(capacity: 0)
        }
        return chunk
    }

    /// The paused senders and waiting parent calls to release, once the held bytes fell to
    /// ``FlowControl/heldResumeMark``.
    func takeReleased() -> (sources: [ChildRecord], waiters: [() -> Void]) {
        guard held.readableBytes <= FlowControl.heldResumeMark else { return ([], []) }
        defer { pausedSources.removeAll(); parentWaiters.removeAll() }
        return (pausedSources, parentWaiters)
    }

    /// Forgets everything held (the child is gone): the senders it paused are released.
    func drop() -> (sources: [ChildRecord], waiters: [() -> Void]) {
        held = ByteBufferAllocator().buffer(capacity: 0)
        defer { pausedSources.removeAll(); parentWaiters.removeAll() }
        return (pausedSources, parentWaiters)
    }
}
