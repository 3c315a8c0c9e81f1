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
        /// Anyone → supervisor, one-way: shuts the queue down for every process (payload nil, or
        /// `{"immediate": true}` to drop what is queued).
        static let close = Envelope.Kind(rawValue: 37)
        /// Request: answered `{"count", "maxsize", "closed", "unfinished", "waiting"}`.
        static let status = Envelope.Kind(rawValue: 38)
        /// Request: answered `[status]` once every item put was marked done.
        static let join = Envelope.Kind(rawValue: 39)
        /// One-way: the request with this envelope's correlation is answered now (`cancelled`).
        static let cancel = Envelope.Kind(rawValue: 40)
        /// Supervisor → worker, one-way: the queue (the payload, its id) was shut down by another process.
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

    /// The payload of `queueClose` (a shutdown): nil, or `{"immediate": true}` when what is
    /// queued is dropped (an optional key, PROTOCOL.md "Later versions": a reader that does not
    /// know it shuts the queue down without dropping).
    static func shutdownPayload(immediate: Bool) -> MessagePackValue {
        immediate ? .map([(key: .string("immediate"), value: .bool(true))]) : .nil
    }

    /// `{"immediate"}` of `queueClose`; a nil payload reads as not immediate.
    struct Shutdown: Codable, Sendable {
        var immediate: Bool?
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

    /// Reads the envelope of a queue frame body: an array of 6 to 15 elements, the first six
    /// unsigned integers, the seventh (`putWait`'s timeout) an unsigned integer or nil, any after
    /// it unsigned integers or nil (ignored); then a payload.
    static func parseHeader(_ body: UnsafeRawBufferPointer) throws(Malformed) -> Header {
        var reader = MessagePackReader(body)
        var header = Header(kind: Envelope.Kind(rawValue: 0), source: 0, correlation: 0, queue: 0, timeout: nil, payloadOffset: 0)
        let elements: Int
        do { elements = try reader.readArrayHeader() } catch {
            throw Malformed(description: "a queue frame's envelope must be an array: \(error)")
        }
        guard elements >= 6, elements <= 15 else {
            throw Malformed(description: "a queue frame's envelope must be an array of 6 to 15 elements, not \(elements)")
        }
        do {
            header.kind = Envelope.Kind(rawValue: try reader.readUInt())
            _ = try reader.readUInt()   // flags
            header.source = try reader.readUInt()
            _ = try reader.readUInt()   // destination: the supervisor
            header.correlation = try reader.readUInt()
            header.queue = try reader.readUInt()
            for index in 6..<elements {
                let value: UInt64? = try reader.readNilIfPresent() ? nil : try reader.readUInt()
                if index == 6 { header.timeout = value }
            }
        } catch {
            throw Malformed(description: "a queue frame's envelope: \(error)")
        }
        guard !reader.isAtEnd else { throw Malformed(description: "nothing follows the envelope at byte offset \(reader.offset)") }
        header.payloadOffset = reader.offset
        return header
    }

    // MARK: building

    /// The envelope of a queue frame from a worker, `[kind, 0, source, 0, correlation, queue]`,
    /// encoded straight into a `FrameWriter` before the item. A `MessagePackValue`, which the
    /// encoder packs directly (a Codable struct of integers cost the producer a third of its time
    /// in dynamic casts).
    static func envelope(_ kind: Envelope.Kind, source: UInt64, correlation: UInt64 = 0, queue: UInt64) -> MessagePackValue {
        .array([.uint(kind.rawValue), .uint(0), .uint(source), .uint(0), .uint(correlation), .uint(queue)])
    }

    /// A nil payload (`c0`), for frames that carry none.
    static let nilPayload: [UInt8] = {
        var bytes: [UInt8] = []
        bytes.packNil()
        return bytes
    }()

    /// Appends one whole frame: `[kind, 0, source, 0, correlation, queue(, timeout)]`, then `payload`.
    static func appendFrame(_ kind: Envelope.Kind, source: UInt64, correlation: UInt64 = 0, queue: UInt64,
                            timeout: UInt64?? = .none, payload: UnsafeRawBufferPointer, to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.packBigEndian(UInt32(0))   // the length, patched below
        bytes.packArrayHeader(timeout == nil ? 6 : 7)
        bytes.packUInt(kind.rawValue)
        bytes.packUInt(0)
        bytes.packUInt(source)
        bytes.packUInt(0)
        bytes.packUInt(correlation)
        bytes.packUInt(queue)
        switch timeout {
        case .none: break
        case .some(.none): bytes.packNil()
        case .some(.some(let micros)): bytes.packUInt(micros)
        }
        bytes.packRaw(payload)
        let length = UInt32(bytes.count - start - 4)
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: start, as: UInt32.self) }
    }

    /// Splits a `get` answer's payload into its status and its items (slices of `payload`).
    static func parseGetAnswer(_ payload: [UInt8]) throws(Malformed) -> (Status, [ArraySlice<UInt8>]) {
        let parsed = payload.withUnsafeBytes { raw -> Result<(Status, [ArraySlice<UInt8>]), Malformed> in
            var reader = MessagePackReader(raw)
            do {
                let count = try reader.readArrayHeader()
                guard count >= 1, let status = Status(rawValue: try reader.readInteger(UInt8.self)) else {
                    return .failure(Malformed(description: "a queue get answer must start with a status 0...3"))
                }
                var items: [ArraySlice<UInt8>] = []
                items.reserveCapacity(count - 1)
                for _ in 1..<count {
                    let item = try reader.readBinary()
                    items.append(payload[reader.offset - item.count ..< reader.offset])
                }
                guard reader.isAtEnd else {
                    return .failure(Malformed(description: "\(raw.count - reader.offset) bytes follow the items of a queue get answer"))
                }
                return .success((status, items))
            } catch {
                return .failure(Malformed(description: "a queue get answer must be [status, bin(item)...]: \(error)"))
            }
        }
        return try parsed.get()
    }
}
