import MessagePack
import NIOCore

/// A child's record applies its ``ChildFlow``: holding requests and messages for it, pausing
/// and resuming it as a sender (on the loop).
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
