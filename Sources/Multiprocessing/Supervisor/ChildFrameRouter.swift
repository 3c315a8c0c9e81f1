import CoreMetrics
import MessagePack
import NIOCore

/// Decides where one whole frame a child sent goes: a service's kind to the service, as a view
/// of the read buffer; an envelope addressed to another worker forwarded as it is (its payload
/// never decoded), held if the destination does not take requests now; anything else parsed
/// and handed to the child's sink. A frame that breaks the rules is refused through the sink.
struct ChildFrameRouter<Sink: ChildFrameSink> {
    let sink: Sink
    /// The supervisor's services by kind.
    let services: ServiceTable
    /// Counts the frames forwarded from one worker to another (`mp_messages_routed`).
    let routed: Counter?

    /// Routes `frame` (its length prefix included); ``FrameSplitter/Step/stop`` when the child
    /// was disconnected for it.
    func route(_ frame: inout ByteBuffer, forwarding: inout ForwardingBuffers<Sink>,
               allocator: ByteBufferAllocator) -> FrameSplitter.Step {
        let start = frame.readerIndex
        let length = frame.readableBytes - 4
        // A kind a service owns (PROTOCOL.md, "Kind ranges"): looked up by its kind byte (the
        // envelope's first element, a fixint, right after the array header).
        if length >= 2 {
            let kind = frame.getInteger(at: start + 5, as: UInt8.self)!
            if let service = services.service(first: frame.getInteger(at: start + 4, as: UInt8.self)!, kind: kind) {
                service.receive(ServiceFrame(kind: kind, body: frame.getSlice(at: start + 4, length: length)!), from: sink)
                return .next
            }
        }
        let header: Result<Envelope, FrameBodyError> = frame.withUnsafeReadableBytes { raw in
            do throws(FrameBodyError) {
                return .success(try Envelope.split(UnsafeRawBufferPointer(rebasing: raw[4...])).envelope)
            } catch { return .failure(error) }
        }
        if case .success(let envelope) = header, envelope.destination != Envelope.supervisor {
            forward(&frame, envelope, forwarding: &forwarding, allocator: allocator)
            return .next
        }
        // A large payload stays where it was read (for a frame reassembled from many reads, a
        // buffer reserved for it alone): it reaches the decoder without a copy.
        frame.moveReaderIndex(forwardBy: 4)
        switch Result(catching: { () throws(FrameBodyError) in try FrameBody(parsing: frame) }) {
        case .success(let body):
            sink.received(body)
            return .next
        case .failure(let error):
            // Framing is intact: after the welcome the body is dropped and the child stays.
            return sink.refuseMalformedBody(error) ? .next : .stop
        }
    }

    private func forward(_ frame: inout ByteBuffer, _ envelope: Envelope, forwarding: inout ForwardingBuffers<Sink>,
                         allocator: ByteBufferAllocator) {
        guard envelope.source == sink.id else {
            sink.refuseWrongSource(envelope)
            return
        }
        guard let target = forwarding.destination(envelope.destination) ?? sink.worker(envelope.destination) else {
            sink.refuseUnknownDestination(envelope)
            return
        }
        if FlowControl.isHeld(envelope.kind), !target.takesHeldKindsAtOnce {
            // Requests and messages wait for a paused or full child; replies, errors and
            // control frames never do (ChildFlow.swift).
            routed?.increment()
            target.deliverHeldKind(&frame, from: sink)
            return
        }
        routed?.increment()
        forwarding.append(&frame, to: envelope.destination, target, allocator: allocator)
    }
}
