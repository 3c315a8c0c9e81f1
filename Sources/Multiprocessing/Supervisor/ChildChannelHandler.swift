import MessagePack
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

    init(sink: Sink, services: ServiceTable, maxFrameSize: Int) {
        self.sink = sink
        self.maxFrameSize = maxFrameSize
        self.splitter = FrameSplitter(maxFrameSize: maxFrameSize)
        self.router = ChildFrameRouter(sink: sink, services: services)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let allocator = context.channel.allocator
        splitter.append(unwrapInboundIn(data), frame: { frame in
            router.route(&frame, forwarding: &forwarding, allocator: allocator)
        }, oversized: { length in
            sink.disconnect(reason: "sent a frame of \(length) bytes, above the maximum of \(maxFrameSize)")
        })
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !forwarding.isEmpty else { return }
        // Backpressure is ChildFlow's: a destination that is paused or not writable has new
        // requests and messages held, and their senders paused past its budget. This channel is
        // never stopped wholesale here, so the replies it carries always arrive.
        forwarding.flush { destination, frames in destination.forward(frames) }
        sink.forwardedFrames()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { sink.channelWritable() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if splitter.bufferedBytes > 0 {
                sink.disconnect(reason: "closed its channel inside a frame (\(splitter.bufferedBytes) bytes of it arrived)")
            }
            sink.channelEnded()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.channelEnded()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        sink.channelEnded()
        context.close(promise: nil)
    }
}
