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

extension ChildRecord {
    /// Delivers request or message frames from `source` (nil: the parent) to this child: at
    /// once when it takes them, else held; a sender that pushes the held bytes past the budget
    /// is paused (on the loop).
    func deliverHeldKind(_ frames: inout ByteBuffer, from source: ChildRecord?) {
        guard let channel, channelOpen else { return }
        if flow.acceptsAtOnce(channel) {
            channel.writeAndFlush(frames, promise: nil)
            return
        }
        let overBudget = flow.hold(&frames)
        if flow.heldBytes > supervisor.heldBytesHighWater.load(ordering: .relaxed) {
            supervisor.heldBytesHighWater.store(flow.heldBytes, ordering: .relaxed)
        }
        if overBudget, let source, flow.addPausedSource(source) {
            source.pauseSending()
        }
    }

    /// This child as a sender: stop sending new requests and messages (on the loop).
    func pauseSending() {
        flow.pausedBy += 1
        guard flow.pausedBy == 1, let channel, channelOpen else { return }
        supervisor.backpressurePauses.wrappingAdd(1, ordering: .relaxed)
        if flow.speaksFlowControl {
            write(Envelope(.pause, from: Envelope.supervisor, to: id), MessagePackValue.nil)
        } else {
            // A version-1 peer knows no pause: its channel is not read until the others drain.
            channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
    }

    /// This child as a sender: it may send again, once no destination holds it back (on the loop).
    func resumeSending() {
        guard flow.pausedBy > 0 else { return }
        flow.pausedBy -= 1
        guard flow.pausedBy == 0, let channel, channelOpen else { return }
        if flow.speaksFlowControl {
            write(Envelope(.resume, from: Envelope.supervisor, to: id), MessagePackValue.nil)
        } else {
            channel.setOption(ChannelOptions.autoRead, value: true).whenSuccess { channel.read() }
        }
    }

    /// The child sent `pause` or `resume` about its own mailbox (on the loop).
    func mailboxFlow(_ kind: Envelope.Kind) {
        flow.mailboxPaused = kind == .pause
        if kind == .resume { releaseHeld() }
    }

    /// Writes held frames while the child takes them and its channel is writable, then
    /// releases the senders and parent calls that waited for the held bytes to drain (on the loop).
    func releaseHeld() {
        guard let channel, channelOpen else { return }
        while !flow.mailboxPaused, channel.isWritable, let chunk = flow.takeChunk() {
            channel.writeAndFlush(chunk, promise: nil)
        }
        let (sources, waiters) = flow.takeReleased()
        for source in sources { source.resumeSending() }
        for waiter in waiters { waiter() }
    }

    /// The child is gone: what was held for it is dropped and its senders released (on the loop).
    func dropHeld() {
        let (sources, waiters) = flow.drop()
        for source in sources { source.resumeSending() }
        for waiter in waiters { waiter() }
    }
}
