import MessagePack
import NIOCore

/// Reads frames from one child's pipe on the supervisor's event loop, in place in the read
/// buffer: a byte-level handler, not a decoder that pushes one message per frame through the
/// pipeline (NOTES-linux.md measured that ~30x slower). Each whole frame is split into its
/// envelope and payload bytes and handed to the child's record; a frame above the maximum
/// size disconnects the child (framing is lost); a body that is not an envelope and a payload
/// is dropped and reported (before the welcome it disconnects).
final class ChildChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let record: ChildRecord
    private let maxFrameSize: Int
    private let supervisor: SupervisorCore
    /// The supervisor's services by kind: a frame of a service's kind goes to it, in place.
    private let services: ServiceTable
    private var pending: ByteBuffer?
    /// Set once the child was disconnected for what it sent: nothing more of it is parsed.
    private var refused = false
    /// Frames to forward, one buffer per destination, flushed once per read (NOTES-linux.md:
    /// copying small frames into one buffer per destination keeps ~30 M frames/s).
    private var outbound: [UInt64: (record: ChildRecord, buffer: ByteBuffer)] = [:]

    init(record: ChildRecord, supervisor: SupervisorCore) {
        self.record = record
        self.maxFrameSize = supervisor.maxFrameSize
        self.supervisor = supervisor
        self.services = supervisor.services
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending != nil {
            // Only the frame that straddles two reads is copied, into one accumulation buffer
            // that owns its storage (`pending` is cleared first, so no write copies it again)
            // and is reserved from the declared length: linear in the frame, however many
            // reads it takes. It is completed from `incoming` and parsed, then the rest of
            // `incoming` is parsed where it lies.
            var partial = pending!
            pending = nil
            partial.discardReadBytes()   // the leftover is less than one frame (a no-op once owned)
            if partial.readableBytes < 4 {
                var header = incoming.readSlice(length: min(4 - partial.readableBytes, incoming.readableBytes))!
                partial.writeBuffer(&header)
            }
            if partial.readableBytes >= 4 {
                let length = Int(partial.getInteger(at: partial.readerIndex, as: UInt32.self)!)
                let missing = length <= maxFrameSize ? max(0, 4 + length - partial.readableBytes) : 0
                if partial.writableBytes < missing {
                    partial.reserveCapacity(minimumWritableBytes: missing)
                    if missing >= MemoryAdvice.hugePageSize {
                        // Not yet written: faulted in 2 MiB at a time as the reads fill it.
                        partial.withUnsafeMutableWritableBytes { _ = MemoryAdvice._adviseHugePages($0.baseAddress!, byteCount: $0.count) }
                    }
                }
                var rest = incoming.readSlice(length: min(missing, incoming.readableBytes))!
                partial.writeBuffer(&rest)
            }
            pending = partial
            if incoming.readableBytes > 0 {
                parseFrames(context: context)   // the completed frame (or a disconnect)
                guard !refused else { return }
                if pending == nil { pending = incoming } else { pending!.writeBuffer(&incoming) }
            }
        } else {
            pending = incoming
        }
        parseFrames(context: context)
    }

    private func parseFrames(context: ChannelHandlerContext) {
        guard var buffer = pending else { return }
        defer {
            // The leftover (less than a frame) stays a view of the read buffer; it is moved to the
            // front only when the next read completes it.
            pending = buffer.readableBytes == 0 ? nil : buffer
        }
        while buffer.readableBytes >= 4 {
            let length = Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!)
            guard length <= maxFrameSize else {
                record.disconnect(reason: "sent a frame of \(length) bytes, above the maximum of \(maxFrameSize)")
                refused = true
                buffer.clear()
                return
            }
            guard buffer.readableBytes >= 4 + length else { return }
            // A kind a service owns (PROTOCOL.md, "Kind ranges"): the body goes to the service
            // as a view of the read buffer, looked up by its kind byte (the envelope's first
            // element, a fixint, right after the array header).
            if length >= 2 {
                let kind = buffer.getInteger(at: buffer.readerIndex + 5, as: UInt8.self)!
                if let service = services.service(first: buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self)!, kind: kind) {
                    service.receive(ServiceFrame(kind: kind, body: buffer.getSlice(at: buffer.readerIndex + 4, length: length)!), from: record)
                    buffer.moveReaderIndex(forwardBy: 4 + length)
                    continue
                }
            }
            // An envelope addressed to another worker is forwarded as it is; its payload is
            // never decoded here.
            let header: Result<Envelope, FrameBodyError> = buffer.withUnsafeReadableBytes { raw in
                do throws(FrameBodyError) {
                    return .success(try Envelope.split(UnsafeRawBufferPointer(rebasing: raw[4..<4 + length])).envelope)
                } catch { return .failure(error) }
            }
            if case .success(let envelope) = header, envelope.destination != Envelope.supervisor {
                guard envelope.source == record.id else {
                    record.refuseWrongSource(envelope)
                    buffer.moveReaderIndex(forwardBy: 4 + length)
                    continue
                }
                if let target = outbound[envelope.destination]?.record ?? supervisor.record(envelope.destination) {
                    var slice = buffer.readSlice(length: 4 + length)!
                    if FlowControl.isHeld(envelope.kind), !target.flow.acceptsAtOnce(target.channel) {
                        // Requests and messages wait for a paused or full child; replies,
                        // errors and control frames never do (ChildFlow.swift).
                        target.deliverHeldKind(&slice, from: record)
                        continue
                    }
                    outbound[envelope.destination, default: (target, context.channel.allocator.buffer(capacity: 4096))].buffer.writeBuffer(&slice)
                } else {
                    buffer.moveReaderIndex(forwardBy: 4 + length)
                    if envelope.kind == .request {
                        record.write(Envelope(.error, from: Envelope.supervisor, to: record.id, correlation: envelope.correlation),
                                     RemoteError.unknownDestination(envelope.destination))
                    } else {
                        record.report("sent a \(envelope.kind) to worker \(envelope.destination), which does not exist (dropped)")
                    }
                }
                continue
            }
            // A large payload stays where it was read (for a frame reassembled from many reads,
            // a buffer reserved for it alone): it reaches the decoder without a copy.
            buffer.moveReaderIndex(forwardBy: 4)
            let body = buffer.readSlice(length: length)!
            let outcome = Result { () throws(FrameBodyError) in try FrameBody(parsing: body) }
            switch outcome {
            case .success(let body):
                record.received(body)
            case .failure(let error):
                // Framing is intact: after the welcome the body is dropped and the child stays.
                guard record.refuseMalformedBody(error) else {
                    refused = true
                    buffer.clear()
                    return
                }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !outbound.isEmpty else { return }
        // Backpressure is ChildFlow's: a destination that is paused or not writable has new
        // requests and messages held, and their senders paused past its budget. This channel is
        // never stopped wholesale here, so the replies it carries always arrive.
        for (_, entry) in outbound {
            entry.record.forward(entry.buffer)
        }
        outbound.removeAll(keepingCapacity: true)
        // Frames went to other workers: their answers (or the next requests) tend to follow
        // within microseconds, which the loop waits for awake.
        supervisor.spinForAnswersSoon()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { record.releaseHeld() }
        context.fireChannelWritabilityChanged()
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
