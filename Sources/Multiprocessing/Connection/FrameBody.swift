#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import MessagePack
import NIOCore

/// A frame body split into its envelope and its payload's encoded bytes (one MessagePack value).
///
/// ```swift
/// let body = try FrameBody(Envelope(.message, from: 3, to: 5), encoding: Reading(id: 1, name: "t", value: 0.5))
/// let bytes = try body.encoded()                      // envelope, then payload
/// let back = try FrameBody(parsing: bytes)
/// let reading = try back.decodePayload(Reading.self)
/// ```
public struct FrameBody: Hashable, Sendable {
    /// The routing header.
    public var envelope: Envelope
    private var storage: Storage

    /// Where the payload's bytes live: an array of its own, or (a large payload the supervisor
    /// received) the part of the buffer the frame was read into, so that it is never copied
    /// between the pipe and the decoder.
    private enum Storage: Sendable {
        case array([UInt8])
        case buffer(ByteBuffer)
    }

    /// Payloads from this size on are kept in the buffer they were received in
    /// (``init(parsing:)-ByteBuffer``); smaller ones are copied out, so that a small frame never
    /// holds a whole read buffer alive.
    static let sharedPayloadSize = 64 << 10

    /// The payload's MessagePack bytes, not decoded (a copy when the payload is held in its
    /// receive buffer; ``decodePayload(_:decoder:)`` reads it where it lies).
    public var payload: [UInt8] {
        get {
            switch storage {
            case .array(let bytes): bytes
            case .buffer(let buffer): Array(buffer.readableBytesView)
            }
        }
        set { storage = .array(newValue) }
    }

    /// A body from an envelope and a payload that is already encoded (one MessagePack value).
    public init(_ envelope: Envelope, payload: [UInt8]) {
        self.envelope = envelope
        self.storage = .array(payload)
    }

    /// A body from an envelope and a value to encode as its payload.
    public init<Payload: Encodable>(_ envelope: Envelope, encoding payload: Payload, encoder: MessagePackEncoder = MessagePackEncoder()) throws {
        self.init(envelope, payload: try encoder.encode(payload))
    }

    /// Splits a received frame body (see ``Envelope/split(_:)``), copying the payload's bytes.
    public init(parsing body: UnsafeRawBufferPointer) throws(FrameBodyError) {
        let (envelope, payload) = try Envelope.split(body)
        self.init(envelope, payload: Array(payload))
    }

    /// Splits a received frame body (see ``Envelope/split(_:)``).
    public init(parsing body: [UInt8]) throws(FrameBodyError) {
        let result = body.withUnsafeBytes { raw in
            Result { () throws(FrameBodyError) in try FrameBody(parsing: raw) }
        }
        self = try result.get()
    }

    /// Splits a frame body the supervisor received (its readable bytes). A payload of
    /// ``sharedPayloadSize`` bytes or more stays in `body`'s storage, which the frame then keeps
    /// alive (for a frame reassembled from many reads, a buffer holding just that frame);
    /// a smaller one is copied.
    init(parsing body: ByteBuffer) throws(FrameBodyError) {
        let split: Result<(Envelope, Int), FrameBodyError> = body.withUnsafeReadableBytes { raw in
            do throws(FrameBodyError) {
                let (envelope, payload) = try Envelope.split(raw)
                return .success((envelope, raw.count - payload.count))
            } catch { return .failure(error) }
        }
        let (envelope, envelopeLength) = try split.get()
        let payloadLength = body.readableBytes - envelopeLength
        self.envelope = envelope
        if payloadLength >= Self.sharedPayloadSize {
            storage = .buffer(body.getSlice(at: body.readerIndex + envelopeLength, length: payloadLength)!)
        } else {
            storage = .array(body.getBytes(at: body.readerIndex + envelopeLength, length: payloadLength)!)
        }
    }

    /// Calls `body` with the payload's bytes where they lie (valid only inside the call).
    func withPayloadBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .array(let bytes): try bytes.withUnsafeBytes(body)
        case .buffer(let buffer): try buffer.withUnsafeReadableBytes(body)
        }
    }

    /// Whether the payload is held in the buffer it was received in (not copied out of it).
    var payloadIsShared: Bool {
        if case .buffer = storage { return true }
        return false
    }

    /// The payload decoded as a `T`; it must be exactly one value (a `DecodingError` wrapping
    /// ``MessagePackError`` otherwise, `trailingBytes` when more follows it). A `Data` is
    /// copied once, from the payload's bytes where they lie.
    public func decodePayload<T: Decodable>(_ type: T.Type, decoder: MessagePackDecoder = MessagePackDecoder()) throws -> T {
        if T.self == Data.self, payloadIsShared, let data = withPayloadBytes(Self.largeData) { return data as! T }
        return try withPayloadBytes { try decoder.decode(type, from: $0) }
    }

    /// A payload that is exactly one `bin` value, copied into a `Data` whose memory is asked
    /// for huge pages before the copy (half the cost of faulting in 64 MiB page by page); nil
    /// for anything else, which the decoder then reads (and names what is wrong).
    private static func largeData(_ payload: UnsafeRawBufferPointer) -> Data? {
        var reader = MessagePackReader(payload)
        guard let bytes = try? reader.readBinary(), reader.isAtEnd else { return nil }
        let length = bytes.count
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, MemoryAdvice.hugePageSize, max(length, 1)) == 0, let memory else { return nil }
        _ = MemoryAdvice._adviseHugePages(memory, byteCount: length)
        if length > 0 { memory.copyMemory(from: bytes.baseAddress!, byteCount: length) }
        return Data(bytesNoCopy: memory, count: length, deallocator: .free)
    }

    /// The body's bytes: the envelope array, then the payload.
    public func encoded() throws -> [UInt8] {
        var bytes: [UInt8] = []
        envelope.pack(into: &bytes)
        withPayloadBytes { bytes.packRaw($0) }
        return bytes
    }

    /// Equal envelopes and equal payload bytes, wherever each payload is held.
    public static func == (lhs: FrameBody, rhs: FrameBody) -> Bool {
        guard lhs.envelope == rhs.envelope else { return false }
        return lhs.withPayloadBytes { left in rhs.withPayloadBytes { right in
            left.count == right.count && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
        } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(envelope)
        withPayloadBytes { hasher.combine(bytes: $0) }
    }
}

extension FrameWriter {
    /// Appends one frame whose body is `envelope`, then `payload` encoded with the writer's encoder.
    /// On error (encoding, or a frame above the maximum) nothing is appended.
    public mutating func append<Payload: Encodable>(_ envelope: Envelope, payload: Payload) throws {
        try append(envelope, payload)
    }

    /// Appends one frame whose body is `envelope`, then `payload`'s bytes as they are: how a
    /// router forwards a payload it never decoded.
    public mutating func append(_ envelope: Envelope, rawPayload payload: UnsafeRawBufferPointer) throws {
        try append(envelope, followedBy: payload)
    }

    /// Appends one frame holding `body`.
    public mutating func append(_ body: FrameBody) throws {
        try body.withPayloadBytes { try append(body.envelope, rawPayload: $0) }
    }
}
