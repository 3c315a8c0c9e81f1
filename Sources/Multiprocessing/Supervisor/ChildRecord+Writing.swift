import MessagePack
import NIOCore

/// Writing to a child and signalling it: frames on the loop (its ``ChildWriter``), one-way
/// messages, closing the channel, signals through its ``ChildHandle``.
extension ChildRecord {
    // MARK: writing (on the loop)

    /// Encodes and writes one frame (on the loop; one that does not encode is dropped).
    func write<P: Encodable>(_ envelope: Envelope, _ payload: P) { writer.write(envelope, payload) }

    /// Writes whole frames forwarded from another worker (on the loop).
    func forward(_ frames: ByteBuffer) { writer.forward(frames) }

    /// Writes the frames in `frameWriter`, draining it (on the loop).
    func writeFrames(_ frameWriter: inout FrameWriter) { writer.write(&frameWriter) }

    /// Sends `signal` to the child and its process group; false if it had already been
    /// reaped (or its handle closed). Any thread: ``ChildHandle`` serializes the signal with
    /// the reap and the close, so a closed pidfd's reused number is never signalled.
    /// A remote worker has no process here: SIGKILL closes its connection (it is gone at once,
    /// and its child sees the end of its channel), any other signal closes the supervisor's
    /// writing side (its mailbox ends, as a stop request); false once it ended.
    @discardableResult
    func send(_ signal: Signal) -> Bool {
        guard let process else {
            guard status == nil else { return false }
            loop.execute { [self] in
                if signal == .kill { channel?.close(promise: nil) } else { writer.closeOutput() }
            }
            return true
        }
        return process.send(signal)
    }

    /// Sends a one-way `message` to the child (any thread); encoding errors are thrown here.
    func sendMessage<P: Encodable & Sendable>(_ payload: P) throws {
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do {
            try writer.append(Envelope(.message, from: Envelope.supervisor, to: id), payload: payload)
        } catch {
            throw ProcessError.sizeChecked(error, "a message", limit: maxFrameSize)
        }
        let frame = writer.take()
        loop.execute { [self] in
            flow.whenWithinBudget { [self] in
                var buffer = ByteBufferAllocator().buffer(bytes: frame)
                deliverHeldKind(&buffer, from: nil)
            }
        }
    }

    /// Closes the channel from the supervisor's side: a worker's mailbox ends.
    /// A remote worker's connection is half-closed instead: the same end of its mailbox, while
    /// its goodbye (its exit status) still arrives.
    func closeChannel() {
        loop.execute { [self] in
            if isRemote { writer.closeOutput() } else { channel?.close(promise: nil) }
        }
    }

    /// Closes only the supervisor's writing side of the channel: the child's input ends (a
    /// worker's mailbox finishes) while what it still sends (a function's result, a last
    /// reply, its goodbye) is read as usual until it exits.
    func closeChannelInput() {
        loop.execute { [self] in writer.closeOutput() }
    }
}

extension Duration {
    /// The whole duration in nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
