import MessagePack
import CoreMetrics
import NIOCore

/// Reads one child's pipe on the supervisor's event loop: the NIO end of a child's channel,
/// composed of a ``FrameSplitter`` (whole frames, in place in the read buffer), a
/// ``ChildFrameRouter`` (where each goes) and ``ForwardingBuffers`` (frames for other workers,
/// written once per read). A byte-level handler, not a decoder that pushes one message per
/// frame through the pipeline (NOTES-linux.md measured that ~30x slower). A frame above the
/// maximum size disconnects the child (framing is lost); end of input inside a frame too.
final class ChildChannelHandler<Sink: ChildFrameSink>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let sink: Sink
    private let maxFrameSize: Int
    private var splitter: FrameSplitter
    private let router: ChildFrameRouter<Sink>
    private var forwarding = ForwardingBuffers<Sink>()
    /// Set while a read is split or the forwarded frames are written: a write there can make
    /// NIO read this channel again (a write error closes it, and a close reads what is left),
    /// and a nested `channelRead` would then touch `splitter` and `forwarding` while they are
    /// in use (an exclusivity violation, seen under SIGKILLs). Such reads wait in
    /// `deferredReads` and are split when the outer call is done.
    private var busy = false
    private var deferredReads: [ByteBuffer] = []
    /// The channel ended while `busy`: the sink hears of it once the deferred reads are split.
    /// Otherwise a write that fails inside a read (the child died) would end the child before
    /// the last frames NIO drained for it were handed on, and their answers would be lost.
    private var endPending: Bool?  // whether a partial frame is then a disconnect

    init(sink: Sink, services: ServiceTable, maxFrameSize: Int, routed: Counter? = nil) {
        self.sink = sink
        self.maxFrameSize = maxFrameSize
        self.splitter = FrameSplitter(maxFrameSize: maxFrameSize)
        self.router = ChildFrameRouter(sink: sink, services: services, routed: routed)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let read = unwrapInboundIn(data)
        guard !busy else {
            deferredReads.append(read)
            return
        }
        busy = true
        split(read, allocator: context.channel.allocator)
        splitDeferredReads(allocator: context.channel.allocator)
        busy = false
        endIfPending()
    }

    private func split(_ read: ByteBuffer, allocator: ByteBufferAllocator) {
        splitter.append(read, frame: { frame in
            router.route(&frame, forwarding: &forwarding, allocator: allocator)
        }, oversized: { length in
            sink.disconnect(reason: "sent a frame of \(length) bytes, above the maximum of \(maxFrameSize)")
        })
    }

    private func splitDeferredReads(allocator: ByteBufferAllocator) {
        while !deferredReads.isEmpty { split(deferredReads.removeFirst(), allocator: allocator) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Nested in a read (see `busy`): the outer read's own completion flushes.
        guard !busy else { return }
        busy = true
        while !forwarding.isEmpty {
            // Backpressure is ChildFlow's: a destination that is paused or not writable has new
            // requests and messages held, and their senders paused past its budget. This channel is
            // never stopped wholesale here, so the replies it carries always arrive.
            forwarding.flush { destination, frames in destination.forward(frames) }
            sink.forwardedFrames()
            splitDeferredReads(allocator: context.channel.allocator)
        }
        busy = false
        endIfPending()
    }

    /// The channel was read to the end or failed: the sink hears of it now, or after the
    /// split in progress (see `endPending`).
    private func ended(checkPartialFrame: Bool) {
        guard !busy else {
            endPending = checkPartialFrame || endPending == true
            return
        }
        if checkPartialFrame, splitter.bufferedBytes > 0 {
            sink.disconnect(reason: "closed its channel inside a frame (\(splitter.bufferedBytes) bytes of it arrived)")
        }
        sink.channelEnded()
    }

    private func endIfPending() {
        guard let pending = endPending else { return }
        endPending = nil
        ended(checkPartialFrame: pending)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { sink.channelWritable() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            ended(checkPartialFrame: true)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended(checkPartialFrame: false)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ended(checkPartialFrame: false)
        context.close(promise: nil)
    }
}
