import MessagePack

/// The queue protocol's frames (Protocols/PROTOCOL.md, "Queues"): kinds 32...41 and 44, their
/// envelopes and the payloads the supervisor builds and parses without decoding an item.
///
/// Every frame a worker sends about a queue has a six-element envelope,
/// `[kind, flags, source, 0, correlation, queue]` (`putWait` adds a seventh, its timeout in
/// microseconds); version-1 readers ignore the extra elements. Items travel as the payload of
/// a put, and wrapped in bin after the status in a `get` reply, byte for byte as their
/// producer encoded them.
enum QueueWire {
    /// The queue kinds (PROTOCOL.md, "Queue kinds").
    enum Kind {
        /// Worker → supervisor, one-way: makes the queue known (`{"maxsize", "joinable"}`).
        static let open = Envelope.Kind(rawValue: 32)
        /// Producer → supervisor, one-way: an item (unbounded queue, or within granted credit).
        static let put = Envelope.Kind(rawValue: 33)
        /// Producer → supervisor, request: an item that waits for room; answered `[status, credit]`.
        static let putWait = Envelope.Kind(rawValue: 34)
        /// Consumer → supervisor, request `{"max", "timeout"}`: answered `[status, bin(item)...]`.
        static let get = Envelope.Kind(rawValue: 35)
        /// Consumer → supervisor, one-way `[got, done]`: items its code got, tasks it finished.
        static let report = Envelope.Kind(rawValue: 36)
        /// Anyone → supervisor, one-way: closes the queue for every process.
        static let close = Envelope.Kind(rawValue: 37)
        /// Request: answered `{"count", "maxsize", "closed", "unfinished", "waiting"}`.
        static let status = Envelope.Kind(rawValue: 38)
        /// Request: answered `[status]` once every item put was marked done.
        static let join = Envelope.Kind(rawValue: 39)
        /// One-way: the request with this envelope's correlation is answered now (`cancelled`).
        static let cancel = Envelope.Kind(rawValue: 40)
        /// Supervisor → worker, one-way: the queue (the payload, its id) was closed.
        static let closed = Envelope.Kind(rawValue: 41)
        /// Supervisor → worker, one-way (capability ``QueueWire/budgetCapability``): `[queue,
        /// throttled]`: past its byte budget, send `putWait` instead of `put` until told `false`.
        static let throttle = Envelope.Kind(rawValue: 44)

        static let all: [Envelope.Kind] = [open, put, putWait, get, report, close, status, join, cancel, closed, throttle]
        static let range: ClosedRange<UInt64> = 32...47

        static func name(_ kind: Envelope.Kind) -> String? {
            let names = ["queueOpen", "queuePut", "queuePutWait", "queueGet", "queueReport", "queueClose",
                         "queueStatus", "queueJoin", "queueCancel", "queueClosed", nil, nil, "queueThrottle"]
            let index = Int(kind.rawValue) - 32
            return names.indices.contains(index) ? names[index] : nil
        }
    }

    /// The capability a worker announces in its hello when it honours ``Kind/throttle``: only
    /// such workers are sent it (a version-1 worker's one-way puts are taken past the budget).
    static let budgetCapability = "queue.budget"

    /// `[queue, throttled]` of ``Kind/throttle``.
    struct Throttle: Codable, Sendable {
        var queue: UInt64
        var throttled: Bool

        init(queue: UInt64, throttled: Bool) {
            self.queue = queue
            self.throttled = throttled
        }

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            queue = try container.decode(UInt64.self)
            throttled = try container.decode(Bool.self)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(queue)
            try container.encode(throttled)
        }
    }

    /// The first element of a `get`, `putWait` or `join` answer.
    enum Status: UInt8, Sendable {
        /// Items follow (`get`), the item went in (`putWait`), every task is done (`join`).
        case ok = 0
        /// Nothing came before the timeout (`get`: Python's `queue.Empty`; `putWait`: `queue.Full`).
        case timedOut = 1
        /// The queue is closed (and, for `get`, drained).
        case closed = 2
        /// A `cancel` frame ended the request first.
        case cancelled = 3
    }

    /// Room kept in every frame for its envelope and the reply's headers: an item may be at
    /// most `maxFrameSize - itemOverhead` bytes, so any item fits in a `get` reply.
    static let itemOverhead = 64

    /// `{"maxsize", "joinable", "byteBudget"}` of `open` (`byteBudget` absent: the default).
    struct Open: Codable, Sendable {
        var maxsize: Int
        var joinable: Bool
        var byteBudget: Int?
    }

    /// `{"max", "timeout"}` of `get`: at most `max` items; wait at most `timeout` microseconds
    /// (0: do not wait; nil: until an item comes or the queue is closed).
    struct Get: Codable, Sendable {
        var max: Int
        var timeout: UInt64?
    }

    /// The answer to `status`.
    struct QueueStatus: Codable, Sendable {
        /// Items not yet returned by a `get` (queued, and delivered to consumers ahead of their code).
        var count: Int
        var maxsize: Int
        var closed: Bool
        /// Items put and not yet marked done (JoinableQueue; otherwise 0).
        var unfinished: Int
        /// Gets waiting in the supervisor for an item.
        var waiting: Int
    }

    // MARK: parsing (the supervisor reads these in place, in the read buffer)

    /// A queue frame's envelope fields.
    struct Header {
        var kind: Envelope.Kind
        var source: UInt64
        var correlation: UInt64
        var queue: UInt64
        /// `putWait`'s seventh element; nil when absent or nil (wait without limit).
        var timeout: UInt64?
        /// Where the payload starts in the body.
        var payloadOffset: Int
    }

    /// Whether a frame body (at `body`) is a queue frame: an envelope of six or more elements
    /// whose kind is in the queue range. Reads two bytes.
    static func isQueueFrame(firstByte: UInt8, kindByte: UInt8) -> Bool {
        firstByte >= 0x96 && firstByte <= 0x9f && UInt64(kindByte) >= Kind.range.lowerBound && UInt64(kindByte) <= Kind.range.upperBound
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads the envelope of a queue frame body.
    static func parseHeader(_ body: UnsafeRawBufferPointer) throws(Malformed) -> Header {
        guard body.count >= 7, body[0] >= 0x96, body[0] <= 0x9f else {
            throw Malformed(description: "a queue frame's envelope must be an array of 6 to 15 elements")
        }
        let elements = Int(body[0] & 0x0f)
        var offset = 1
        var header = Header(kind: Envelope.Kind(rawValue: 0), source: 0, correlation: 0, queue: 0, timeout: nil, payloadOffset: 0)
        for index in 0..<elements {
            guard let (value, next) = readUIntOrNil(body, at: offset) else {
                throw Malformed(description: "envelope element \(index) at byte offset \(offset) is not an unsigned integer")
            }
            guard value != nil || index >= 6 else {
                throw Malformed(description: "a queue frame's first six envelope elements must be unsigned integers (element \(index) is nil)")
            }
            switch index {
            case 0: header.kind = Envelope.Kind(rawValue: value!)
            case 2: header.source = value!
            case 4: header.correlation = value!
            case 5: header.queue = value!
            case 6: header.timeout = value
            default: break
            }
            offset = next
        }
        guard offset < body.count else { throw Malformed(description: "nothing follows the envelope at byte offset \(offset)") }
        header.payloadOffset = offset
        return header
    }

    /// An unsigned integer (any width) or nil at `offset`, and where the next value starts.
    private static func readUIntOrNil(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (UInt64?, Int)? {
        guard offset < bytes.count else { return nil }
        let byte = bytes[offset]
        if byte < 0x80 { return (UInt64(byte), offset + 1) }
        if byte == 0xc0 { return (nil, offset + 1) }
        let width: Int
        switch byte {
        case 0xcc: width = 1
        case 0xcd: width = 2
        case 0xce: width = 4
        case 0xcf: width = 8
        default: return nil
        }
        guard offset + 1 + width <= bytes.count else { return nil }
        var value: UInt64 = 0
        for index in 0..<width { value = value << 8 | UInt64(bytes[offset + 1 + index]) }
        return (value, offset + 1 + width)
    }

    // MARK: building

    /// The envelope of a queue frame from a worker, `[kind, 0, source, 0, correlation, queue]`,
    /// encoded straight into a `FrameWriter` before the item. A `MessagePackValue`, which the
    /// encoder packs directly (a Codable struct of integers cost the producer a third of its time
    /// in dynamic casts).
    static func envelope(_ kind: Envelope.Kind, source: UInt64, correlation: UInt64 = 0, queue: UInt64) -> MessagePackValue {
        .array([.uint(kind.rawValue), .uint(0), .uint(source), .uint(0), .uint(correlation), .uint(queue)])
    }

    /// Appends a msgpack unsigned integer in its smallest form.
    static func appendUInt(_ value: UInt64, to bytes: inout [UInt8]) {
        switch value {
        case 0..<0x80: bytes.append(UInt8(value))
        case 0..<0x100: bytes.append(0xcc); bytes.append(UInt8(value))
        case 0..<0x10000: bytes.append(0xcd); appendBigEndian(value, width: 2, to: &bytes)
        case 0..<0x1_0000_0000: bytes.append(0xce); appendBigEndian(value, width: 4, to: &bytes)
        default: bytes.append(0xcf); appendBigEndian(value, width: 8, to: &bytes)
        }
    }

    static func appendBigEndian(_ value: UInt64, width: Int, to bytes: inout [UInt8]) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Appends one whole frame: `[kind, 0, source, 0, correlation, queue(, timeout)]`, then `payload`.
    static func appendFrame(_ kind: Envelope.Kind, source: UInt64, correlation: UInt64 = 0, queue: UInt64,
                            timeout: UInt64?? = .none, payload: UnsafeRawBufferPointer, to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0])
        switch timeout {
        case .none: bytes.append(0x96)
        case .some: bytes.append(0x97)
        }
        appendUInt(kind.rawValue, to: &bytes)
        bytes.append(0)
        appendUInt(source, to: &bytes)
        bytes.append(0)
        appendUInt(correlation, to: &bytes)
        appendUInt(queue, to: &bytes)
        switch timeout {
        case .none: break
        case .some(.none): bytes.append(0xc0)
        case .some(.some(let micros)): appendUInt(micros, to: &bytes)
        }
        bytes.append(contentsOf: payload)
        let length = UInt32(bytes.count - start - 4)
        bytes[start] = UInt8(length >> 24)
        bytes[start + 1] = UInt8(truncatingIfNeeded: length >> 16)
        bytes[start + 2] = UInt8(truncatingIfNeeded: length >> 8)
        bytes[start + 3] = UInt8(truncatingIfNeeded: length)
    }

    /// Splits a `get` answer's payload into its status and its items (slices of `payload`).
    static func parseGetAnswer(_ payload: [UInt8]) throws -> (Status, [ArraySlice<UInt8>]) {
        try payload.withUnsafeBytes { raw -> (Status, [ArraySlice<UInt8>]) in
            guard raw.count >= 2 else { throw Malformed(description: "a queue get answer must be an array") }
            var offset = 0
            let count: Int
            let first = raw[0]
            if first & 0xf0 == 0x90 {
                count = Int(first & 0x0f); offset = 1
            } else if first == 0xdc, raw.count >= 3 {
                count = Int(raw[1]) << 8 | Int(raw[2]); offset = 3
            } else if first == 0xdd, raw.count >= 5 {
                count = Int(raw[1]) << 24 | Int(raw[2]) << 16 | Int(raw[3]) << 8 | Int(raw[4]); offset = 5
            } else {
                throw Malformed(description: "a queue get answer must be an array")
            }
            guard count >= 1, offset < raw.count, let status = Status(rawValue: raw[offset]) else {
                throw Malformed(description: "a queue get answer must start with a status 0...3")
            }
            offset += 1
            var items: [ArraySlice<UInt8>] = []
            items.reserveCapacity(count - 1)
            for index in 1..<count {
                guard offset < raw.count else { throw Malformed(description: "a queue get answer ends before its item \(index)") }
                let width: Int
                switch raw[offset] {
                case 0xc4: width = 1
                case 0xc5: width = 2
                case 0xc6: width = 4
                default: throw Malformed(description: "item \(index) of a queue get answer is not a bin (byte offset \(offset))")
                }
                guard offset + 1 + width <= raw.count else { throw Malformed(description: "a queue get answer ends inside item \(index)'s header") }
                var length = 0
                for byte in raw[(offset + 1)..<(offset + 1 + width)] { length = length << 8 | Int(byte) }
                let start = offset + 1 + width
                guard start + length <= raw.count else { throw Malformed(description: "item \(index) of a queue get answer claims \(length) bytes; \(raw.count - start) remain") }
                items.append(payload[start..<start + length])
                offset = start + length
            }
            guard offset == raw.count else { throw Malformed(description: "\(raw.count - offset) bytes follow the items of a queue get answer") }
            return (status, items)
        }
    }
}
