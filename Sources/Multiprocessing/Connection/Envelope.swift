import MessagePack

/// The routing header at the front of every frame body: what the frame is, who sent it, who
/// it is for, and which request it belongs to.
///
/// On the wire it is a MessagePack array of five unsigned integers,
/// `[kind, flags, source, destination, correlation]`, and the payload follows it in the same
/// frame body as a second MessagePack value (Protocols/PROTOCOL.md, "Envelope"). A router reads
/// only the envelope and forwards the payload's bytes untouched. Ids are worker ids assigned
/// by the supervisor; ``supervisor`` (0) is the supervisor itself.
///
/// ```swift
/// let request = Envelope(.request, from: Envelope.supervisor, to: 3, correlation: 1)
/// var writer = FrameWriter()
/// try writer.append(request, payload: 7)   // body: 95 04 00 00 03 01 07
/// let reply = request.answer(.reply)        // from 3 to 0, correlation 1
/// ```
public struct Envelope: Hashable, Sendable {
    /// What the frame is, and so what its payload holds.
    public var kind: Kind
    /// Per-frame options; version 1 defines none, and readers ignore bits they do not know.
    public var flags: Flags
    /// The worker id of the sender (0 for the supervisor, and for a child before its welcome).
    public var source: UInt64
    /// The worker id the frame is for (0 for the supervisor).
    public var destination: UInt64
    /// Pairs a reply or error with its request: chosen by the requester, non-zero, unique among
    /// its outstanding requests; 0 when the frame answers nothing and expects no answer.
    public var correlation: UInt64

    /// The id of the supervisor, as a source or destination.
    public static let supervisor: UInt64 = 0
    /// The number of elements a version-1 envelope array has; readers ignore any after these.
    public static let fieldCount = 5

    /// An envelope of `kind` from `source` to `destination`.
    public init(_ kind: Kind, flags: Flags = [], from source: UInt64, to destination: UInt64, correlation: UInt64 = 0) {
        self.kind = kind
        self.flags = flags
        self.source = source
        self.destination = destination
        self.correlation = correlation
    }

    /// The envelope of an answer to this frame (a reply or an error): source and destination
    /// swapped, the correlation kept, no flags.
    ///
    /// ```swift
    /// let failed = request.answer(.error)   // then RemoteError as the payload
    /// ```
    public func answer(_ kind: Kind) -> Envelope {
        Envelope(kind, from: destination, to: source, correlation: correlation)
    }
}

extension Envelope {
    /// What a frame is. An open set: a kind this peer does not know still parses, so the
    /// receiver can answer it with ``RemoteError/unknownKind(_:)``.
    ///
    /// ```swift
    /// switch envelope.kind {
    /// case .request: try serve(envelope, payload)
    /// case .goodbye: close()
    /// default: try writer.append(envelope.answer(.error), payload: RemoteError.unknownKind(envelope.kind))
    /// }
    /// ```
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The number on the wire.
        public var rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }

        /// The child's first frame, with a ``Hello`` payload.
        public static let hello = Kind(rawValue: 1)
        /// The supervisor's answer to a hello, with a ``Welcome`` payload.
        public static let welcome = Kind(rawValue: 2)
        /// A one-way, addressed send: any payload, correlation 0.
        public static let message = Kind(rawValue: 3)
        /// A send that expects a ``reply`` or an ``error`` with the same correlation.
        public static let request = Kind(rawValue: 4)
        /// The successful answer to a request: its result as the payload.
        public static let reply = Kind(rawValue: 5)
        /// A failed request or a refused frame, with a ``RemoteError`` payload.
        public static let error = Kind(rawValue: 6)
        /// The sender will send nothing more on this channel, with a ``Goodbye`` payload.
        public static let goodbye = Kind(rawValue: 7)
        /// Asks the supervisor to report when another worker ends (payload ``Monitor``).
        public static let monitor = Kind(rawValue: 8)
        /// The supervisor reports that a monitored worker ended (payload ``Down``).
        public static let down = Kind(rawValue: 9)
        /// Flow control (capability ``FlowControl/capability``): the sender asks its peer on the
        /// channel to hold new requests and messages for it until a ``resume``. No payload (nil).
        public static let pause = Kind(rawValue: 10)
        /// Flow control: the sender takes new requests and messages again. No payload (nil).
        public static let resume = Kind(rawValue: 11)

        /// The kinds protocol version 1 defines.
        public static let version1: [Kind] = [.hello, .welcome, .message, .request, .reply, .error, .goodbye, .monitor, .down]

        /// The kind's name in PROTOCOL.md, or nil for a kind this version does not define.
        public var name: String? {
            switch rawValue {
            case 1: "hello"
            case 2: "welcome"
            case 3: "message"
            case 4: "request"
            case 5: "reply"
            case 6: "error"
            case 7: "goodbye"
            case 8: "monitor"
            case 9: "down"
            case 10: "pause"
            case 11: "resume"
            default: nil
            }
        }

        /// The name, or `kind(99)` for an unknown kind.
        public var description: String { name ?? "kind(\(rawValue))" }
    }

    /// Per-frame option bits. Version 1 defines none: senders write 0, readers ignore bits
    /// they do not know, and a later feature sets its bit only towards peers that announced
    /// its capability in the handshake.
    public struct Flags: OptionSet, Hashable, Sendable {
        public var rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
    }
}

extension Envelope: Codable {
    /// Writes the envelope array `[kind, flags, source, destination, correlation]`, each in its
    /// smallest unsigned encoding (whatever the encoder's `structsAsArrays` option).
    public func encode(to encoder: any Encoder) throws {
        var fields = encoder.unkeyedContainer()
        try fields.encode(kind.rawValue)
        try fields.encode(flags.rawValue)
        try fields.encode(source)
        try fields.encode(destination)
        try fields.encode(correlation)
    }

    /// Reads an envelope array: at least five unsigned integers (any integer encoding of a
    /// non-negative value); elements after the fifth are ignored.
    public init(from decoder: any Decoder) throws {
        var fields = try decoder.unkeyedContainer()
        guard let count = fields.count, count >= Envelope.fieldCount else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "the envelope has \(fields.count ?? 0) elements; it needs at least \(Envelope.fieldCount)"))
        }
        kind = Kind(rawValue: try fields.decode(UInt64.self))
        flags = Flags(rawValue: try fields.decode(UInt64.self))
        source = try fields.decode(UInt64.self)
        destination = try fields.decode(UInt64.self)
        correlation = try fields.decode(UInt64.self)
    }
}

// MARK: frame bodies

extension Envelope {
    /// Reads the envelope at the front of a frame body and returns it with the payload's bytes,
    /// which are not decoded (a router forwards them as they are).
    ///
    /// The payload is only required to be present; whoever decodes it checks that it is exactly
    /// one value. `payload` points into `body` and is valid as long as `body` is.
    ///
    /// ```swift
    /// try reader.withNextFrame { body in
    ///     let (envelope, payload) = try Envelope.split(body)
    ///     route(envelope, payload)
    /// }
    /// ```
    public static func split(_ body: UnsafeRawBufferPointer) throws(FrameBodyError) -> (envelope: Envelope, payload: UnsafeRawBufferPointer) {
        let (envelope, length) = try parsePrefix(body)
        guard length < body.count else {
            throw FrameBodyError(.missingPayload, at: length, "nothing follows the \(length)-byte envelope at byte offset \(length)")
        }
        return (envelope, UnsafeRawBufferPointer(rebasing: body[length...]))
    }

    /// The envelope at the front of `body` and how many bytes it takes.
    static func parsePrefix(_ body: UnsafeRawBufferPointer) throws(FrameBodyError) -> (Envelope, Int) {
        // Fast path: an array of exactly five integers, what every envelope of version 1 is;
        // anything else (more fields, errors) takes the decoder, which names what is wrong.
        var reader = MessagePackReader(body)
        if let envelope = try? read(&reader) { return (envelope, reader.offset) }
        do {
            return try envelopeDecoder.decodePrefix(Envelope.self, from: body)
        } catch {
            throw FrameBodyError(malformedEnvelope: error)
        }
    }

    @inline(__always)
    private static func read(_ reader: inout MessagePackReader) throws(MessagePackError) -> Envelope? {
        guard try reader.readArrayHeader() == fieldCount else { return nil }
        return Envelope(Kind(rawValue: try reader.readUInt()), flags: Flags(rawValue: try reader.readUInt()),
                        from: try reader.readUInt(), to: try reader.readUInt(), correlation: try reader.readUInt())
    }

    private static let envelopeDecoder = MessagePackDecoder()

    /// Writes the envelope array `[kind, flags, source, destination, correlation]` into
    /// `output`, each field in its smallest unsigned form: the same bytes as its `Codable`
    /// encoding, without an encoder.
    ///
    /// ```swift
    /// var body: [UInt8] = []
    /// Envelope(.message, from: 3, to: 5).pack(into: &body)   // 95 03 00 03 05 00
    /// payload.withUnsafeBytes { body.packRaw($0) }
    /// ```
    public func pack<Output: MessagePackOutput>(into output: inout Output) {
        output.packArrayHeader(Envelope.fieldCount)
        output.packUInt(kind.rawValue)
        output.packUInt(flags.rawValue)
        output.packUInt(source)
        output.packUInt(destination)
        output.packUInt(correlation)
    }
}

/// A frame body that is not an envelope followed by a payload.
///
/// A struct with an extensible ``Code``, as ``MessagePackError``; ``offset`` counts from the
/// start of the body (0, the envelope's start, when the decoder named the place only in the
/// message), and ``underlyingError`` is the MessagePack error when the envelope's bytes
/// themselves are malformed.
///
/// ```swift
/// do { _ = try Envelope.split(body) }
/// catch let error where error.code == .missingPayload { disconnect(reason: error) }
/// ```
public struct FrameBodyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the body.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code, as the protocol's test vectors use it.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The body does not start with a valid envelope: not MessagePack, not an array, fewer
        /// than five elements, or an element that is not an unsigned 64-bit integer.
        public static let malformedEnvelope = Code("malformedEnvelope")
        /// Nothing follows the envelope.
        public static let missingPayload = Code("missingPayload")
    }

    /// What is wrong.
    public var code: Code
    /// The byte offset in the body where it was found.
    public var offset: Int
    /// A sentence naming what is wrong.
    public var message: String
    /// The MessagePack error behind a malformed envelope, when there is one.
    public var underlyingError: MessagePackError?

    public init(_ code: Code, at offset: Int, _ message: String, underlyingError: MessagePackError? = nil) {
        self.code = code
        self.offset = offset
        self.message = message
        self.underlyingError = underlyingError
    }

    /// A malformed envelope, from the error its decoding threw.
    init(malformedEnvelope error: any Error) {
        let names = ["kind", "flags", "source", "destination", "correlation"]
        var underlying = error as? MessagePackError
        var detail = "\(error)"
        var path: [any CodingKey] = []
        if let decoding = error as? DecodingError {
            switch decoding {
            case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
                underlying = context.underlyingError as? MessagePackError
                detail = context.debugDescription
                path = context.codingPath
            @unknown default:
                break
            }
        }
        if let index = path.last?.intValue, names.indices.contains(index) {
            detail = "element \(index) (\(names[index])): \(detail)"
        }
        if let underlying {
            detail = underlying.description   // names its code and byte offset
        } else if !detail.contains("byte offset") {
            detail += " at byte offset 0"
        }
        self.init(.malformedEnvelope, at: underlying?.offset ?? 0, "envelope: \(detail)", underlyingError: underlying)
    }

    /// The code and the message, which names the byte offset in the body.
    public var description: String { "\(code): \(message)" }
}
