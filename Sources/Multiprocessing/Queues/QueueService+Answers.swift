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
            bytes.writeMessagePackArrayHeader(items.count + 1)
            bytes.writeInteger(QueueWire.Status.ok.rawValue)
            for item in items {
                bytes.writeMessagePackBinHeader(item.readableBytes)
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
                bytes.writeMessagePackArrayHeader(items.count + 1)
                bytes.writeInteger(status.rawValue)
                for item in items {
                    bytes.writeMessagePackBinHeader(item.count)
                    bytes.writeBytes(item)
                }
            }
        case .put(let status, let credit):
            appendFrame(to: peer, kind: .reply, correlation: answerer.correlation) { bytes in
                bytes.writeInteger(UInt8(0x92))
                bytes.writeInteger(status.rawValue)
                bytes.writeMessagePackUInt(UInt64(credit))
            }
        case .join(let status):
            appendFrame(to: peer, kind: .reply, correlation: answerer.correlation) { bytes in
                bytes.writeInteger(UInt8(0x91))
                bytes.writeInteger(status.rawValue)
            }
        case .status(let status):
            appendFrame(to: peer, kind: .reply, correlation: answerer.correlation) { bytes in
                bytes.writeBytes((try? MessagePackEncoder().encode(status)) ?? [0xc0])
            }
        case .failure(let error):
            appendFrame(to: peer, kind: .error, correlation: answerer.correlation) { bytes in
                bytes.writeBytes((try? MessagePackEncoder().encode(RemoteError(error))) ?? [0xc0])
            }
        }
    }

    /// The queue went past its byte budget: said once per queue on standard error.
    func warnOverBudget(_ queue: ServedQueue) {
        guard !queue.warnedOverBudget else { return }
        queue.warnedOverBudget = true
        ProcessEnvironment.writeError("[supervisor] queue \(queue.id): \(queue.bytes) bytes of items held, past its byte budget of \(queue.byteBudget) bytes; puts wait\n")
    }

    /// Tells `peer` whether to send `putWait` (`throttled`) or one-way puts again.
    func sendThrottle(_ queue: ServedQueue, to peer: UInt64, _ throttled: Bool) {
        if peer == Envelope.supervisor {
            localClients?.setThrottled(queue.id, throttled)
            return
        }
        appendFrame(to: peer, kind: QueueWire.Kind.throttle, correlation: 0) { bytes in
            bytes.writeInteger(UInt8(0x92))
            bytes.writeMessagePackUInt(queue.id)
            bytes.writeInteger(UInt8(throttled ? 0xc3 : 0xc2))
        }
    }

    /// Appends a frame `[kind, 0, 0, peer, correlation]` + payload to what `peer` is owed.
    func appendFrame(to peer: UInt64, kind: Envelope.Kind, correlation: UInt64, reserving size: Int = 64,
                             payload: (inout ByteBuffer) -> Void) {
        var bytes = outbound.removeValue(forKey: peer) ?? allocator.buffer(capacity: max(size, 4096))
        bytes.reserveCapacity(minimumWritableBytes: size)
        let start = bytes.writerIndex
        bytes.writeInteger(UInt32(0))
        bytes.writeInteger(UInt8(0x95))
        bytes.writeMessagePackUInt(kind.rawValue)
        bytes.writeInteger(UInt16(0))   // flags 0, source 0 (the supervisor)
        bytes.writeMessagePackUInt(peer)
        bytes.writeMessagePackUInt(correlation)
        payload(&bytes)
        bytes.setInteger(UInt32(bytes.writerIndex - start - 4), at: start)
        outbound[peer] = bytes
    }
}

extension ByteBuffer {
    /// A MessagePack unsigned integer in its smallest form.
    mutating func writeMessagePackUInt(_ value: UInt64) {
        switch value {
        case 0..<0x80: writeInteger(UInt8(value))
        case 0..<0x100: writeInteger(UInt8(0xcc)); writeInteger(UInt8(value))
        case 0..<0x10000: writeInteger(UInt8(0xcd)); writeInteger(UInt16(value))
        case 0..<0x1_0000_0000: writeInteger(UInt8(0xce)); writeInteger(UInt32(value))
        default: writeInteger(UInt8(0xcf)); writeInteger(value)
        }
    }

    mutating func writeMessagePackArrayHeader(_ count: Int) {
        if count < 16 { writeInteger(UInt8(0x90 | count)) }
        else if count < 0x10000 { writeInteger(UInt8(0xdc)); writeInteger(UInt16(count)) }
        else { writeInteger(UInt8(0xdd)); writeInteger(UInt32(count)) }
    }

    mutating func writeMessagePackBinHeader(_ count: Int) {
        if count < 0x100 { writeInteger(UInt8(0xc4)); writeInteger(UInt8(count)) }
        else if count < 0x10000 { writeInteger(UInt8(0xc5)); writeInteger(UInt16(count)) }
        else { writeInteger(UInt8(0xc6)); writeInteger(UInt32(count)) }
    }
}
