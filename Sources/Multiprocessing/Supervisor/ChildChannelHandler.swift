import MessagePack
import NIOCore

/// Reads frames from one child's pipe on the supervisor's event loop, in place in the read
/// buffer: a byte-level handler, not a decoder that pushes one message per frame through the
/// pipeline (NOTES-linux.md measured that ~30x slower). Each whole frame is split into its
/// envelope and payload bytes and handed to the child's record; a frame above the maximum
/// size, or a body that is not an envelope and a payload, disconnects the child.
final class ChildChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let record: ChildRecord
    private let maxFrameSize: Int
    private var pending: ByteBuffer?

    init(record: ChildRecord, maxFrameSize: Int) {
        self.record = record
        self.maxFrameSize = maxFrameSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending == nil {
            pending = incoming
        } else {
            pending!.writeBuffer(&incoming)
        }
        parseFrames(context: context)
    }

    private func parseFrames(context: ChannelHandlerContext) {
        guard var buffer = pending else { return }
        defer {
            if buffer.readableBytes == 0 {
                pending = nil
            } else {
                buffer.discardReadBytes()
                pending = buffer
            }
        }
        while buffer.readableBytes >= 4 {
            let length = Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!)
            guard length <= maxFrameSize else {
                record.disconnect(reason: "sent a frame of \(length) bytes, above the maximum of \(maxFrameSize)")
                buffer.clear()
                return
            }
            guard buffer.readableBytes >= 4 + length else { return }
            let outcome: Result<FrameBody, FrameBodyError> = buffer.withUnsafeReadableBytes { raw in
                let body = UnsafeRawBufferPointer(rebasing: raw[4..<4 + length])
                do throws(FrameBodyError) { return .success(try FrameBody(parsing: body)) } catch { return .failure(error) }
            }
            buffer.moveReaderIndex(forwardBy: 4 + length)
            switch outcome {
            case .success(let body):
                record.received(body)
            case .failure(let error):
                record.disconnect(reason: "sent a malformed frame: \(error)")
                buffer.clear()
                return
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if let pending, pending.readableBytes > 0 {
                record.disconnect(reason: "closed its channel inside a frame (\(pending.readableBytes) bytes of it arrived)")
            }
            record.channelEnded()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        record.channelEnded()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        record.channelEnded()
        context.close(promise: nil)
    }
}
