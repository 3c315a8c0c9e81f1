/// A cursor over MessagePack bytes that reads one header or scalar at a time, in place: the
/// header-level reader of the wire format, the counterpart of ``MessagePackOutput``.
///
/// Nothing is copied or allocated on the way: ``readBinary()`` and ``readStringBytes()`` return
/// slices of the input, and containers are read as their header's count, their elements
/// following one by one. Every read is bounds-checked (it shares ``MessagePackDecoder``'s
/// checks): truncated input, a count or length beyond the bytes present, a value of another type
/// than asked for, an integer too large for its type and nesting deeper than ``maxDepth`` each
/// throw a ``MessagePackError`` whose ``MessagePackError/offset`` is where in the input it was
/// found. A failed read leaves ``offset`` where it was.
///
/// Use it for the fixed layouts of protocol headers (an envelope, a reply's status and items),
/// where a `Codable` decoding would cost more than the frame; use ``MessagePackDecoder`` for
/// `Codable` payloads, and ``readValue()`` / ``MessagePackValue/init(unpacking:maxDepth:)-(UnsafeRawBufferPointer,_)``
/// when a service must look inside a payload of no fixed shape.
///
/// ```swift
/// try bytes.withUnsafeBytes { raw in
///     var reader = MessagePackReader(raw)
///     let count = try reader.readArrayHeader()    // [status, bin(item)...]
///     let status = try reader.readInteger(UInt8.self)
///     for _ in 1..<count { handle(try reader.readBinary()) }   // slices of `raw`
///     guard reader.isAtEnd else { throw MyError.trailingBytes(at: reader.offset) }
/// }
/// ```
public struct MessagePackReader {
    private let reader: ByteReader
    /// The offset of the next byte to read.
    public private(set) var offset: Int

    /// A reader at the start of `bytes`, which must outlive it; values nested deeper than
    /// `maxDepth` are refused by ``skipValue()``, ``readRawValue()`` and ``readValue()``.
    public init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = MessagePackLimits.defaultMaxDepth) {
        reader = ByteReader(bytes, maxDepth: maxDepth)
        offset = 0
    }

    /// The deepest nesting a skipped or read value may have.
    public var maxDepth: Int { reader.maxDepth }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= reader.count }

    /// The bytes not read yet (a slice of the input).
    public var remainingBytes: UnsafeRawBufferPointer {
        guard let base = reader.base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: reader.count - offset)
    }

    /// The type of the next value, from its first byte; nothing is consumed.
    public func peekType() throws(MessagePackError) -> MessagePackType {
        let byte = try reader.byte(offset)
        switch byte {
        case 0x00...0x7f, 0xcc...0xcf: return .unsignedInteger
        case 0xe0...0xff, 0xd0...0xd3: return .signedInteger
        case 0x80...0x8f, 0xde, 0xdf: return .map
        case 0x90...0x9f, 0xdc, 0xdd: return .array
        case 0xa0...0xbf, 0xd9...0xdb: return .string
        case 0xc0: return .nil
        case 0xc2, 0xc3: return .bool
        case 0xc4...0xc6: return .binary
        case 0xca: return .float32
        case 0xcb: return .float64
        case 0xc7...0xc9, 0xd4...0xd8: return .extension
        default: throw MessagePackError(.reservedByte, at: offset, "byte 0xc1 is reserved and starts no value")
        }
    }

    /// The next header, checked to be of `type`.
    private func header(_ expected: MessagePackType, _ also: MessagePackType? = nil) throws(MessagePackError) -> ByteReader.Header {
        let h = try reader.header(at: offset)
        let found = MessagePackType(h.kind)
        guard found == expected || found == also else {
            let wanted = also == nil ? "\(expected)" : expected == .unsignedInteger ? "an integer" : "a float"
            throw MessagePackError(.typeMismatch, at: offset, "expected \(wanted), found \(found)")
        }
        return h
    }

    /// Reads nil.
    public mutating func readNil() throws(MessagePackError) {
        offset = try header(.nil).body
    }

    /// Reads nil and returns true when the next value is nil; otherwise reads nothing and
    /// returns false (an optional field: nil, or a value to read next).
    public mutating func readNilIfPresent() throws(MessagePackError) -> Bool {
        guard try reader.byte(offset) == 0xc0 else { return false }
        offset += 1
        return true
    }

    /// Reads a boolean.
    public mutating func readBool() throws(MessagePackError) -> Bool {
        let h = try header(.bool)
        offset = h.body
        return h.bits != 0
    }

    /// Reads an integer of any width and either signedness (`-1` as `ff` or `d0 ff`, `5` as `05`
    /// or `cd 00 05`) as a `T`; ``MessagePackError/Code/integerOverflow`` when it does not fit.
    public mutating func readInteger<T: FixedWidthInteger>(_ type: T.Type = T.self) throws(MessagePackError) -> T {
        let h = try header(.unsignedInteger, .signedInteger)
        let value: T?
        if h.kind == .uint {
            value = T(exactly: h.bits)
        } else {
            value = T(exactly: Int64(bitPattern: h.bits))
        }
        guard let value else {
            let shown = h.kind == .uint ? "\(h.bits)" : "\(Int64(bitPattern: h.bits))"
            throw MessagePackError(.integerOverflow, at: offset, "integer \(shown) does not fit \(T.self)")
        }
        offset = h.body
        return value
    }

    /// Reads a non-negative integer of any width and encoding as a `UInt64`.
    public mutating func readUInt() throws(MessagePackError) -> UInt64 { try readInteger(UInt64.self) }

    /// Reads an integer of any width and encoding as an `Int64`.
    public mutating func readInt() throws(MessagePackError) -> Int64 { try readInteger(Int64.self) }

    /// Reads a float 32 or float 64 as a `Double` (a float 32 widens exactly).
    public mutating func readDouble() throws(MessagePackError) -> Double {
        let h = try header(.float64, .float32)
        offset = h.body
        return h.kind == .float64 ? Double(bitPattern: h.bits) : Double(Float(bitPattern: UInt32(truncatingIfNeeded: h.bits)))
    }

    /// Reads a string, validated as UTF-8 (``MessagePackError/Code/invalidUTF8`` otherwise).
    public mutating func readString() throws(MessagePackError) -> String {
        let h = try header(.string)
        let value = try reader.string(h, at: offset)
        offset = h.body + h.length
        return value
    }

    /// Reads a string's bytes as a slice of the input, not copied and not validated.
    public mutating func readStringBytes() throws(MessagePackError) -> UnsafeRawBufferPointer {
        let h = try header(.string)
        offset = h.body + h.length
        return reader.body(h)
    }

    /// Reads a binary value's bytes as a slice of the input, not copied.
    public mutating func readBinary() throws(MessagePackError) -> UnsafeRawBufferPointer {
        let h = try header(.binary)
        offset = h.body + h.length
        return reader.body(h)
    }

    /// Reads an array header and returns its element count; the elements follow. A count
    /// larger than the bytes left could hold (one byte per element) is
    /// ``MessagePackError/Code/lengthExceedsInput``.
    public mutating func readArrayHeader() throws(MessagePackError) -> Int {
        let h = try header(.array)
        try requirePayable(h.length, at: h.body, what: "array")
        offset = h.body
        return h.length
    }

    /// Reads a map header and returns its entry count; each key and then its value follow. A
    /// count larger than the bytes left could hold (two bytes per entry) is
    /// ``MessagePackError/Code/lengthExceedsInput``.
    public mutating func readMapHeader() throws(MessagePackError) -> Int {
        let h = try header(.map)
        try requirePayable(h.length * 2, at: h.body, what: "map")
        offset = h.body
        return h.length
    }

    /// The 16 and 32-bit forms are checked by `ByteReader`; a fixarray or fixmap is checked here.
    private func requirePayable(_ minimum: Int, at body: Int, what: StaticString) throws(MessagePackError) {
        guard minimum <= reader.count - body else {
            throw MessagePackError(.lengthExceedsInput, at: offset, "\(what) declares \(minimum) bytes of elements at least, but only \(reader.count - body) remain")
        }
    }

    /// Moves past the next value, whole (a container with everything in it), after checking its
    /// structure as ``MessagePackValue/length(ofFirstValueIn:maxDepth:)`` does.
    public mutating func skipValue() throws(MessagePackError) {
        offset = try reader.skip(at: offset)
    }

    /// Reads the next value, whole, as its encoded bytes (a slice of the input): what a router
    /// forwards, or a payload to decode later.
    public mutating func readRawValue() throws(MessagePackError) -> UnsafeRawBufferPointer {
        let start = offset
        let end = try reader.skip(at: offset)
        offset = end
        return UnsafeRawBufferPointer(start: reader.base! + start, count: end - start)
    }

    /// Reads the next value, whole, as a ``MessagePackValue`` tree (strings validated).
    public mutating func readValue() throws(MessagePackError) -> MessagePackValue {
        let (value, end) = try MessagePackValue.parse(reader, at: offset, depth: 0)
        offset = end
        return value
    }
}

/// The type of a MessagePack value, as its first byte tells it (``MessagePackReader/peekType()``).
///
/// ```swift
/// switch try reader.peekType() {
/// case .nil: try reader.readNil()
/// case .unsignedInteger, .signedInteger: print(try reader.readInt())
/// default: try reader.skipValue()
/// }
/// ```
public enum MessagePackType: Hashable, Sendable, CustomStringConvertible {
    /// `c0`.
    case `nil`
    /// `c2` or `c3`.
    case bool
    /// Positive fixint and uint 8...64.
    case unsignedInteger
    /// Negative fixint and int 8...64 (which may hold a non-negative value).
    case signedInteger
    /// `ca`.
    case float32
    /// `cb`.
    case float64
    /// fixstr and str 8...32.
    case string
    /// bin 8...32.
    case binary
    /// fixarray, array 16 and 32.
    case array
    /// fixmap, map 16 and 32.
    case map
    /// Any extension type, the timestamp (-1) included.
    case `extension`

    init(_ kind: ByteReader.Kind) {
        switch kind {
        case .nil: self = .nil
        case .bool: self = .bool
        case .uint: self = .unsignedInteger
        case .int: self = .signedInteger
        case .float32: self = .float32
        case .float64: self = .float64
        case .string: self = .string
        case .binary: self = .binary
        case .array: self = .array
        case .map: self = .map
        case .ext: self = .extension
        }
    }

    /// The type's name as error messages use it.
    public var description: String {
        switch self {
        case .nil: "nil"
        case .bool: "bool"
        case .unsignedInteger: "an unsigned integer"
        case .signedInteger: "a signed integer"
        case .float32: "float32"
        case .float64: "float64"
        case .string: "a string"
        case .binary: "binary"
        case .array: "an array"
        case .map: "a map"
        case .extension: "an extension"
        }
    }
}
