import MessagePack
import NIOCore

// The queue server's answers: frames to workers, collected in one buffer per worker and written
// by `QueueService.flush`, or closures for the parent's own client. On the loop, as the server.
extension QueueService {
    /// A `get` answer with items: the frame `[0, bin(item)...]` for a worker, copies for the parent.
    func answerItems(_ answerer: QueueAnswerer, _ items: [ByteBuffer]) {
        if let local = answerer.local {
            local(.get(.ok, items.map { Array($0.readableBytesView)[...] }))
            return
        }
        let size = items.reduce(32) { $0 + $1.readableBytes + 5 }
        appendFrame(to: answerer.peer, kind: .reply, correlation: answerer.correlation, reserving: size) { bytes in
            bytes.packArrayHeader(items.count + 1)
            bytes.packUInt(UInt64(QueueWire.Status.ok.rawValue))
            for item in items {
                bytes.packBinaryHeader(count: item.readableBytes)
                bytes.writeImmutableBuffer(item)
            }
        }
    }

    func answer(_ answerer: QueueAnswerer, _ answer: QueueAnswer) {
        if let local = answerer.local {
            local(answer)
            return
        }
        let peer = answerer.peer
        switch answer {
        case .get(let status, let items):
            let size = items.reduce(32) { $0 + $1.count + 5 }
            appendFrame(to: peer, kind: .reply, correlation: answerer.correlation, reserving: size) { bytes in
                bytes.packArrayHeader(items.count + 1)
                bytes.packUInt(UInt64(status.rawValue))
                for item in items {
                    bytes.packBinaryHeader(count: item.count)
                    bytes.writeBytes(item)
                }
            }
        case .put(let status, let credit):
            appendFrame(to: peer, kind: .reply, correlation: answerer.correlation) { bytes in
                bytes.packArrayHeader(2)
                bytes.packUInt(UInt64(status.rawValue))
                bytes.packUInt(UInt64(credit))
            }
        case .join(let status):
            appendFrame(to: peer, kind: .reply, correlation: answerer.correlation) { bytes in
                bytes.packArrayHeader(1)
                bytes.packUInt(UInt64(status.rawValue))
            }
        case .status(let status):
            appendFrame(to: peer, kind: .reply, correlation: answerer.correlation) { bytes in
                bytes.packEncoded(status)
            }
        case .failure(let error):
            appendFrame(to: peer, kind: .error, correlation: answerer.correlation) { bytes in
                bytes.packEncoded(RemoteError(error))
            }
        }
    }

    /// The queue went past its byte budget: said once per queue (a warning: on standard error by default).
    func warnOverBudget(_ queue: ServedQueue) {
        guard !queue.warnedOverBudget else { return }
        queue.warnedOverBudget = true
        RuntimeLog.warning("[supervisor] queue \(queue.id): \(queue.bytes) bytes of items held, past its byte budget of \(queue.byteBudget) bytes; puts wait",
                           metadata: ["queue": "\(queue.id)", "bytes": "\(queue.bytes)", "byteBudget": "\(queue.byteBudget)"])
    }

    /// Tells `peer` whether to send `putWait` (`throttled`) or one-way puts again.
    func sendThrottle(_ queue: ServedQueue, to peer: UInt64, _ throttled: Bool) {
        if peer == Envelope.supervisor {
            localClients?.setThrottled(queue.id, throttled)
            return
        }
        appendFrame(to: peer, kind: QueueWire.Kind.throttle, correlation: 0) { bytes in
            bytes.packArrayHeader(2)
            bytes.packUInt(queue.id)
            bytes.packBool(throttled)
        }
    }

    /// Appends a frame `[kind, 0, 0, peer, correlation]` + payload to what `peer` is owed.
    func appendFrame(to peer: UInt64, kind: Envelope.Kind, correlation: UInt64, reserving size: Int = 64,
                             payload: (inout ByteBuffer) -> Void) {
        var bytes = outbound.removeValue(forKey: peer) ?? allocator.buffer(capacity: max(size, 4096))
        bytes.reserveCapacity(minimumWritableBytes: size)
        let start = bytes.writerIndex
        bytes.writeInteger(UInt32(0))   // the length, set below
        Envelope(kind, from: Envelope.supervisor, to: peer, correlation: correlation).pack(into: &bytes)
        payload(&bytes)
        bytes.setInteger(UInt32(bytes.writerIndex - start - 4), at: start)
        outbound[peer] = bytes
    }
}

extension ByteBuffer {
    /// `value` encoded as one MessagePack value, or nil (`c0`) if it does not encode (the
    /// answers and errors written here always do).
    mutating func packEncoded<T: Encodable>(_ value: T) {
        if let bytes = try? MessagePackEncoder().encode(value) { writeBytes(bytes) } else { packNil() }
    }
}
