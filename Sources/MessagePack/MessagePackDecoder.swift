import FoundationEssentials

/// Decodes `Decodable` values from MessagePack in one pass over the bytes, without copying them.
///
/// Any integer encoding whose value fits the target type is accepted (overflow is an error),
/// floats accept integers that they represent exactly, `Data` reads `bin`, `Date` the timestamp
/// extension, and structs read maps (or arrays with `structsAsArrays`). Every failure is a
/// `DecodingError` whose context names the coding path and the byte offset, with the
/// ``MessagePackError`` as its underlying error.
///
/// ```swift
/// struct Reading: Codable { var id: Int; var name: String; var value: Double }
/// let reading = try MessagePackDecoder().decode(Reading.self, from: bytes)
/// ```
public struct MessagePackDecoder: Sendable {
    /// How values are read.
    public struct Options: Sendable {
        /// Structs (keyed containers) are read from arrays of values, in declaration order.
        public var structsAsArrays = false
        /// Arrays and maps may nest at most this deep (the outermost container is depth 1).
        public var maxDepth = MessagePackLimits.defaultMaxDepth
        public init(structsAsArrays: Bool = false, maxDepth: Int = MessagePackLimits.defaultMaxDepth) {
            self.structsAsArrays = structsAsArrays
            self.maxDepth = maxDepth
        }
    }

    public var options: Options
    /// Passed to every `init(from:)` as `decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init(options: Options = Options()) { self.options = options }

    /// Decodes exactly one value of type `T` from `bytes`; trailing bytes are an error (found
    /// before any decoding starts, as the structure is checked first).
    public func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        try decode(type, from: bytes, wholeInput: true).value
    }

    /// Decodes the first value in `bytes` as a `T` and says how many bytes it took; the bytes
    /// after it are left alone (a frame body's envelope, then its payload).
    public func decodePrefix<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> (value: T, byteCount: Int) {
        try decode(type, from: bytes, wholeInput: false)
    }

    private func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer, wholeInput: Bool) throws -> (value: T, byteCount: Int) {
        let decoder = _MessagePackDecoder.make(ByteReader(bytes, maxDepth: options.maxDepth), options: options, userInfo: userInfo)
        // Escaped decoders or containers then read nothing: the bytes are only lent for this call.
        defer { decoder.recycle() }
        let end: Int
        do {
            end = try decoder.reader.skip(at: 0)   // the whole structure, checked once
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: error.description, underlyingError: error))
        }
        if wholeInput, end != bytes.count {
            let error = MessagePackError(.trailingBytes, at: end, "\(bytes.count - end) bytes follow the value")
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: error.description, underlyingError: error))
        }
        return (try decoder.decodeValue(type, at: 0), end)
    }

    /// Decodes exactly one value of type `T` from `bytes`.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }

    /// Decodes exactly one value of type `T` from `data`.
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try data.withUnsafeBytes { try decode(type, from: $0) }
    }
}

extension MessagePackValue {
    /// The length in bytes of the first MessagePack value in `bytes`, after checking its whole
    /// structure (declared sizes against the bytes present, the reserved byte, the depth
    /// limit) without building it. A router uses it to find where an envelope ends.
    public static func length(ofFirstValueIn bytes: UnsafeRawBufferPointer, maxDepth: Int = MessagePackLimits.defaultMaxDepth) throws(MessagePackError) -> Int {
        try ByteReader(bytes, maxDepth: maxDepth).skip(at: 0)
    }
}

/// Limits shared by the decoders and the frame reader.
public enum MessagePackLimits {
    /// Containers nest at most 32 deep by default: msgpack-c 4.0's unpacker stops there too
    /// (NOTES-linux.md), so both decoders agree on what is valid.
    public static let defaultMaxDepth = 32
    /// Frames are at most 64 MiB by default (DESIGN.md, Messages).
    public static let defaultMaxFrameSize = 64 << 20
}

/// The `Decoder` behind ``MessagePackDecoder``: a reader over borrowed bytes and the offset of
/// the value being decoded. Nested values reuse this one object.
final class _MessagePackDecoder: Decoder {
    @exclusivity(unchecked) var reader: ByteReader
    @exclusivity(unchecked) var options: MessagePackDecoder.Options
    @exclusivity(unchecked) var userInfoStorage: [CodingUserInfoKey: any Sendable]
    @exclusivity(unchecked) var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { userInfoStorage }
    /// Offset of the value now being decoded.
    @exclusivity(unchecked) var offset = 0

    init(_ reader: ByteReader, options: MessagePackDecoder.Options, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.reader = reader
        self.options = options
        self.userInfoStorage = userInfo
    }

    private static let lastPlainType = LastNonConformingType()
    private static let parked = ParkingSlot()

    /// A decoder over `reader`: the parked one if free, else a new one.
    static func make(_ reader: ByteReader, options: MessagePackDecoder.Options, userInfo: [CodingUserInfoKey: any Sendable]) -> _MessagePackDecoder {
        if let decoder = parked.take(_MessagePackDecoder.self) {
            decoder.reader = reader
            decoder.options = options
            decoder.userInfoStorage = userInfo
            return decoder
        }
        return _MessagePackDecoder(reader, options: options, userInfo: userInfo)
    }

    /// Forgets the bytes (see ``invalidate()``) and parks this decoder for the next `make`.
    func recycle() {
        invalidate()
        if !codingPath.isEmpty { codingPath.removeAll(keepingCapacity: true) }
        offset = 0
        if !userInfoStorage.isEmpty { userInfoStorage = [:] }
        Self.parked.park(self)
    }

    /// Decoders made for nested containers and super decoders; they share the borrowed bytes.
    private var detachedDecoders: [_MessagePackDecoder] = []

    /// A decoder for the value at `offset` with its own coding path.
    func detached(offset: Int, codingPath: [any CodingKey]) -> _MessagePackDecoder {
        let d = _MessagePackDecoder(reader, options: options, userInfo: userInfoStorage)
        d.offset = offset
        d.codingPath = codingPath
        detachedDecoders.append(d)
        return d
    }

    /// Forgets the borrowed bytes: a decoder or container that escaped its `decode` call
    /// then reads an empty input (an error), never freed memory.
    func invalidate() {
        cachedCursor?.decoder = nil   // no cycle through the cache; reset with a decoder on reuse
        reader.base = nil
        reader.count = 0
        for d in detachedDecoders { d.invalidate() }
        detachedDecoders.removeAll()
    }

    // MARK: errors

    func context(_ key: (any CodingKey)?, _ message: String, _ underlying: MessagePackError? = nil) -> DecodingError.Context {
        DecodingError.Context(codingPath: key.map { codingPath + [$0] } ?? codingPath, debugDescription: message, underlyingError: underlying)
    }

    func corrupted(_ error: MessagePackError, key: (any CodingKey)?) -> DecodingError {
        .dataCorrupted(context(key, error.description, error))
    }

    /// The `DecodingError` for a failure at `key` (nil: the decoder's own value).
    func error(_ failure: _DecodeFailure, key: (any CodingKey)?) -> DecodingError {
        switch failure {
        case .corrupted(let error):
            return corrupted(error, key: key)
        case .mismatch(let type, let kind, let offset):
            if kind == .nil {
                return .valueNotFound(type, context(key, "expected \(type) but found nil at byte offset \(offset)"))
            }
            return .typeMismatch(type, context(key, "expected \(type) but found \(kind) at byte offset \(offset)"))
        case .invalid(let message):
            return .dataCorrupted(context(key, message))
        }
    }

    /// Runs a primitive read, turning its failure into a `DecodingError` at `key`.
    @inline(__always) func read<K: CodingKey, R>(_ key: K, _ body: () throws(_DecodeFailure) -> R) throws -> R {
        do { return try body() } catch { throw self.error(error, key: key) }
    }

    /// Runs a primitive read of the decoder's own value.
    @inline(__always) func read<R>(_ body: () throws(_DecodeFailure) -> R) throws -> R {
        do { return try body() } catch { throw self.error(error, key: nil) }
    }

    @inline(__always) func header(at offset: Int) throws(_DecodeFailure) -> ByteReader.Header {
        // A missing superDecoder key reads as nil, as in JSONDecoder.
        if offset < 0 { return ByteReader.Header(kind: .nil, bits: 0, body: 0) }
        do { return try reader.header(at: offset) } catch { throw .corrupted(error) }
    }

    func header(at offset: Int, key: (any CodingKey)?) throws -> ByteReader.Header {
        do { return try header(at: offset) } catch { throw self.error(error, key: key) }
    }

    func mismatch(_ type: Any.Type, _ h: ByteReader.Header, at offset: Int, key: (any CodingKey)?) -> DecodingError {
        error(.mismatch(type, h.kind, offset), key: key)
    }

    // MARK: primitives (no coding key on the hot path: callers add it only to a failure)

    func decodeNil(at offset: Int) -> Bool {
        offset < 0 || (try? reader.byte(offset)) == 0xc0
    }

    @inline(__always) func decodeBool(at offset: Int) throws(_DecodeFailure) -> Bool {
        let h = try header(at: offset)
        guard h.kind == .bool else { throw .mismatch(Bool.self, h.kind, offset) }
        return h.bits != 0
    }

    @inline(__always) func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) throws(_DecodeFailure) -> T {
        let h = try header(at: offset)
        let result: T?
        switch h.kind {
        case .uint: result = T(exactly: h.bits)
        case .int: result = T(exactly: Int64(bitPattern: h.bits))
        default: throw .mismatch(type, h.kind, offset)
        }
        guard let result else {
            let value = h.kind == .uint ? "\(h.bits)" : "\(Int64(bitPattern: h.bits))"
            throw .invalid("integer \(value) at byte offset \(offset) does not fit \(T.self)")
        }
        return result
    }

    @inline(__always) func decodeDouble(at offset: Int) throws(_DecodeFailure) -> Double {
        let h = try header(at: offset)
        switch h.kind {
        case .float64: return Double(bitPattern: h.bits)
        case .float32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: h.bits)))
        case .uint:
            if let d = Double(exactly: h.bits) { return d }
        case .int:
            if let d = Double(exactly: Int64(bitPattern: h.bits)) { return d }
        default:
            throw .mismatch(Double.self, h.kind, offset)
        }
        throw .invalid("integer at byte offset \(offset) has no exact Double")
    }

    func decodeFloat(at offset: Int) throws(_DecodeFailure) -> Float {
        let h = try header(at: offset)
        switch h.kind {
        case .float32: return Float(bitPattern: UInt32(truncatingIfNeeded: h.bits))
        case .float64:
            let d = Double(bitPattern: h.bits)
            let f = Float(d)
            if f.isInfinite && d.isFinite {
                throw .invalid("float64 \(d) at byte offset \(offset) does not fit Float")
            }
            return f
        case .uint:
            if let f = Float(exactly: h.bits) { return f }
        case .int:
            if let f = Float(exactly: Int64(bitPattern: h.bits)) { return f }
        default:
            throw .mismatch(Float.self, h.kind, offset)
        }
        throw .invalid("integer at byte offset \(offset) has no exact Float")
    }

    @inline(__always) func decodeString(at offset: Int) throws(_DecodeFailure) -> String {
        let h = try header(at: offset)
        guard h.kind == .string else { throw .mismatch(String.self, h.kind, offset) }
        do { return try reader.string(h, at: offset) } catch { throw .corrupted(error) }
    }

    func decodeData(at offset: Int) throws(_DecodeFailure) -> Data {
        let h = try header(at: offset)
        guard h.kind == .binary else { throw .mismatch(Data.self, h.kind, offset) }
        return Data(reader.body(h))
    }

    func decodeDate(at offset: Int) throws(_DecodeFailure) -> Date {
        let h = try header(at: offset)
        guard h.kind == .ext, h.extType == -1 else { throw .mismatch(Date.self, h.kind, offset) }
        do {
            let t = try reader.timestamp(h, at: offset)
            return Date(timeIntervalSince1970: Double(t.seconds) + Double(t.nanoseconds) / 1e9)
        } catch { throw .corrupted(error) }
    }

    func decodeUUID(at offset: Int) throws(_DecodeFailure) -> UUID {
        let h = try header(at: offset)
        if h.kind == .binary, h.length == 16 {
            let b = reader.body(h)
            return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
        }
        guard h.kind == .string else { throw .mismatch(UUID.self, h.kind, offset) }
        let s = try decodeString(at: offset)
        guard let uuid = UUID(uuidString: s) else { throw .invalid("\"\(s)\" at byte offset \(offset) is not a UUID") }
        return uuid
    }

    func decodeURL(at offset: Int) throws(_DecodeFailure) -> URL {
        let s = try decodeString(at: offset)
        guard let url = URL(string: s) else { throw .invalid("\"\(s)\" at byte offset \(offset) is not a URL") }
        return url
    }

    func decodeDecimal(at offset: Int) throws(_DecodeFailure) -> Decimal {
        let s = try decodeString(at: offset)
        guard let d = Decimal(string: s) else { throw .invalid("\"\(s)\" at byte offset \(offset) is not a Decimal") }
        return d
    }

    // MARK: values

    /// Decodes a `T` from the value at `offset`: primitives and special types directly, anything
    /// else through `T.init(from:)` with this decoder pointed at the value.
    func decodeValue<T: Decodable>(_ type: T.Type, at offset: Int, key: (any CodingKey)? = nil) throws -> T {
        do throws(_DecodeFailure) {
            if T.self == String.self { return unsafeBitCast(try decodeString(at: offset), to: T.self) }
            if T.self == Int.self { return unsafeBitCast(try decodeInteger(Int.self, at: offset), to: T.self) }
            if T.self == Double.self { return unsafeBitCast(try decodeDouble(at: offset), to: T.self) }
            if T.self == Bool.self { return unsafeBitCast(try decodeBool(at: offset), to: T.self) }
            if T.self == Data.self { return try decodeData(at: offset) as! T }
            if T.self == Date.self { return try decodeDate(at: offset) as! T }
            if T.self == URL.self { return try decodeURL(at: offset) as! T }
            if T.self == UUID.self { return try decodeUUID(at: offset) as! T }
            if T.self == Decimal.self { return try decodeDecimal(at: offset) as! T }
            if T.self == MessagePackValue.self {
                do { return try MessagePackValue.parse(reader, at: offset, depth: 0).value as! T } catch { throw _DecodeFailure.corrupted(error) }
            }
        } catch {
            throw self.error(error, key: key)
        }
        if !Self.lastPlainType.contains(T.self) {
            if !options.structsAsArrays, let direct = directTypes.lookUp(T.self) {
                return try decodeDirect(direct, as: T.self, at: offset, key: key)
            }
            if let map = T.self as? any _MessagePackDecodableDictionary.Type {
                return try map._decodeMessagePackMap(self, at: offset, key: key) as! T
            }
            Self.lastPlainType.remember(T.self)
        }
        let savedOffset = self.offset
        if let key { codingPath.append(key) }
        defer {
            if key != nil { codingPath.removeLast() }
            self.offset = savedOffset
        }
        self.offset = offset
        return try T(from: self)
    }

    /// Finds ``MessagePackDirectCodable`` types, remembering the last one.
    @exclusivity(unchecked) var directTypes = DirectTypeCache()

    // MARK: Decoder

    /// The keyed container handed out last, kept for the next struct of the same key type.
    /// Reused only when nothing but this cache still holds it (a struct that contains itself
    /// keeps its outer container alive, and then gets a fresh one).
    @exclusivity(unchecked) private var cachedKeyType: ObjectIdentifier?
    @exclusivity(unchecked) private var cachedBox: AnyObject?
    @exclusivity(unchecked) private var cachedCursor: _MapCursor?

    /// A keyed container over the map `header` describes: the cached one reset, or a new one.
    /// `KeyedDecodingContainer` is a single reference to its box (the standard library's
    /// layout on Linux is fixed), so it can be kept as that reference.
    private func keyedContainer<Key: CodingKey>(header: ByteReader.Header, keyedBy: Key.Type) -> KeyedDecodingContainer<Key> {
        if cachedKeyType == ObjectIdentifier(Key.self), let cursor = cachedCursor, isKnownUniquelyReferenced(&cachedBox) {
            cursor.reset(decoder: self, header: header, codingPath: codingPath)
            return unsafeBitCast(cachedBox, to: KeyedDecodingContainer<Key>.self)
        }
        let cursor = _MapCursor(decoder: self, header: header, codingPath: codingPath)
        let container = KeyedDecodingContainer(_KeyedDecodingContainer<Key>(cursor: cursor))
        cachedKeyType = ObjectIdentifier(Key.self)
        cachedBox = unsafeBitCast(container, to: AnyObject.self)
        cachedCursor = cursor
        return container
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let h = try header(at: offset, key: nil)
        if options.structsAsArrays {
            guard h.kind == .array else { throw mismatch([String: Any].self, h, at: offset, key: nil) }
            return KeyedDecodingContainer(try _ArrayKeyedDecodingContainer<Key>(decoder: self, header: h, codingPath: codingPath))
        }
        guard h.kind == .map else { throw mismatch([String: Any].self, h, at: offset, key: nil) }
        return keyedContainer(header: h, keyedBy: Key.self)
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let h = try header(at: offset, key: nil)
        guard h.kind == .array else { throw mismatch([Any].self, h, at: offset, key: nil) }
        return _UnkeyedDecodingContainer(decoder: self, count: h.length, position: h.body, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        _SingleValueDecodingContainer(decoder: self, offset: offset, codingPath: codingPath)
    }

    /// Skips the value at `offset`, as an error that names the key when it fails.
    @inline(__always) func end(of offset: Int, key: (any CodingKey)?) throws -> Int {
        do { return try reader.skip(at: offset) } catch { throw corrupted(error, key: key) }
    }

    @inline(__always) func end(of offset: Int) throws(_DecodeFailure) -> Int {
        do { return try reader.skip(at: offset) } catch { throw .corrupted(error) }
    }
}

/// Why a primitive read failed, before a coding key is attached (only failures pay for keys).
enum _DecodeFailure: Error {
    case corrupted(MessagePackError)
    case mismatch(any Any.Type, ByteReader.Kind, Int)
    case invalid(String)
}

/// Dictionaries decode from MessagePack maps keyed by their keys' own encodings.
protocol _MessagePackDecodableDictionary {
    static func _decodeMessagePackMap(_ decoder: _MessagePackDecoder, at offset: Int, key: (any CodingKey)?) throws -> Self
}

extension Dictionary: _MessagePackDecodableDictionary where Key: Decodable, Value: Decodable {
    static func _decodeMessagePackMap(_ decoder: _MessagePackDecoder, at offset: Int, key: (any CodingKey)?) throws -> Self {
        let h = try decoder.header(at: offset, key: key)
        guard h.kind == .map else { throw decoder.mismatch(Self.self, h, at: offset, key: key) }
        if let key { decoder.codingPath.append(key) }
        defer { if key != nil { decoder.codingPath.removeLast() } }
        var result = Self(minimumCapacity: h.length)
        var position = h.body
        for _ in 0..<h.length {
            let k = try decoder.decodeValue(Key.self, at: position, key: nil)
            position = try decoder.end(of: position, key: nil)
            let v = try decoder.decodeValue(Value.self, at: position, key: _MessagePackKey(describing: k))
            position = try decoder.end(of: position, key: nil)
            result[k] = v   // a repeated key: the last one wins, as in a Python dict
        }
        return result
    }
}
