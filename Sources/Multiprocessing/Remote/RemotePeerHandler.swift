import MessagePack
import NIOCore

/// One remote client's connection on the manager's loop, once authenticated: frames are
/// split in place (``FrameSplitter``) and handed to the manager's objects directly (no hop:
/// the channel runs on the objects' loop), answers are written back and flushed once per read.
/// The client's end (close, reset, a failed keepalive) releases what it held.
// Unchecked: a channel handler, confined to its channel's loop (the objects' loop).
final class RemotePeerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let objects: ManagerObjects
    private let link: RemoteLink
    private var splitter: FrameSplitter
    private let ended: @Sendable (UInt64) -> Void
    /// Called after a read's answers were flushed (the server's spin for the next call).
    private let answered: @Sendable () -> Void

    init(objects: ManagerObjects, link: RemoteLink, maxFrameSize: Int, answered: @escaping @Sendable () -> Void,
         ended: @escaping @Sendable (UInt64) -> Void) {
        self.objects = objects
        self.link = link
        splitter = FrameSplitter(maxFrameSize: maxFrameSize)
        self.answered = answered
        self.ended = ended
    }

    func channelActive(context: ChannelHandlerContext) {
        link.channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: RemoteWire.welcomeFrame(client: link.id))), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        link.isReading = true
        defer { link.isReading = false }
        splitter.append(unwrapInboundIn(data), frame: { frame in
            handle(frame)
            return .next
        }, oversized: { length in
            RuntimeLog.warning("[manager] \(link.name) sent a frame of \(length) bytes, above the maximum: disconnected")
            context.close(promise: nil)
        })
    }

    private func handle(_ frame: ByteBuffer) {
        frame.withUnsafeReadableBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[4...])
            guard let (envelope, payload) = Self.split(body) else {
                RuntimeLog.warning("[manager] a frame from \(link.name) without an envelope was dropped")
                return
            }
            let kind = envelope.kind.rawValue
            guard kind >= UInt64(ManagerWire.kinds.lowerBound), kind <= UInt64(ManagerWire.kinds.upperBound) else {
                if envelope.correlation != 0 {
                    link.answer(.failure(ManagerError(.protocolViolation, "kind \(kind) is not served to remote clients (the manager's kinds 64...95 are)")),
                                correlation: envelope.correlation)
                }
                return
            }
            objects.receive(kind: UInt8(kind), correlation: envelope.correlation, payload: payload, from: link)
        }
    }

    private static func split(_ body: UnsafeRawBufferPointer) -> (Envelope, UnsafeRawBufferPointer)? {
        guard let split = try? Envelope.split(body) else { return nil }
        return (split.envelope, split.payload)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        answered()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A client that does not read its answers stops being read, rather than growing our memory.
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenComplete { _ in }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        link.channel = nil
        objects.clientGone(link.id)
        ended(link.id)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        RuntimeLog.debug("[manager] the connection of \(link.name) failed: \(error)")
        context.close(promise: nil)
    }
}

/// A remote client as the manager's objects see it: answers become frames on its channel.
// Unchecked: confined to the manager's loop.
final class RemoteLink: ManagerLink, @unchecked Sendable {
    let id: UInt64
    let name: String
    var channel: (any Channel)?
    /// Inside a read: the read's end flushes, so an answer is only written.
    var isReading = false

    init(id: UInt64, name: String) {
        self.id = id
        self.name = name
    }

    func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64) {
        guard let channel else { return }
        let frame = ByteBuffer(bytes: ManagerWire.answer(result, correlation: correlation, client: id))
        if isReading {
            channel.write(frame, promise: nil)
        } else {
            channel.writeAndFlush(frame, promise: nil)
        }
    }
}
