import FoundationEssentials

/// Any MessagePack value, for untyped data: what a Python peer's `unpackb` would give.
///
/// Maps keep their entries in wire order, and equality compares them in that order.
/// Integers compare by value, so `.int(1) == .uint(1)`.
///
/// ```swift
/// let value: MessagePackValue = ["id": 7, "tags": ["a", "b"], "ok": true]
/// let bytes = value.packed()                         // 83 a2 69 64 07 ...
/// let back = try MessagePackValue(unpacking: bytes)  // == value
/// print(back["tags"]?[1] ?? nil)                     // "b"
/// ```
public enum MessagePackValue: Sendable {
    case `nil`
    case bool(Bool)
    /// A signed integer (what the int8...int64 formats and negative fixints decode to).
    case int(Int64)
    /// An unsigned integer (what positive fixints and the uint formats decode to).
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case string(String)
    case binary(Data)
    case array([MessagePackValue])
    case map([(key: MessagePackValue, value: MessagePackValue)])
    /// An application extension type other than the timestamp (-1).
    case `extension`(type: Int8, data: Data)
    /// The timestamp extension (-1): seconds since 1970 and nanoseconds (below 1e9).
    case timestamp(seconds: Int64, nanoseconds: UInt32)
}

extension MessagePackValue {
    /// Parses exactly one value from `bytes` with the Swift reader; trailing bytes are an error.
    public init(unpacking bytes: UnsafeRawBufferPointer, maxDepth: Int = MessagePackLimits.defaultMaxDepth) throws(MessagePackError) {
        let reader = ByteReader(bytes, maxDepth: maxDepth)
        let (value, end) = try MessagePackValue.parse(reader, at: 0, depth: 0)
        guard end == bytes.count else {
            throw MessagePackError(.trailingBytes, at: end, "\(bytes.count - end) bytes follow the value")
        }
        self = value
    }

    /// Parses exactly one value from `bytes`.
    public init(unpacking bytes: [UInt8], maxDepth: Int = MessagePackLimits.defaultMaxDepth) throws(MessagePackError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(MessagePackError) in try MessagePackValue(unpacking: raw, maxDepth: maxDepth) }
        }
        self = try result.get()
    }

    static func parse(_ reader: ByteReader, at offset: Int, depth: Int) throws(MessagePackError) -> (value: MessagePackValue, end: Int) {
        let h = try reader.header(at: offset)
        switch h.kind {
        case .nil: return (.nil, h.body)
        case .bool: return (.bool(h.bits != 0), h.body)
        case .uint: return (.uint(h.bits), h.body)
        case .int: return (.int(Int64(bitPattern: h.bits)), h.body)
        case .float32: return (.float(Float(bitPattern: UInt32(truncatingIfNeeded: h.bits))), h.body)
        case .float64: return (.double(Double(bitPattern: h.bits)), h.body)
        case .string: return (.string(try reader.string(h, at: offset)), h.body + h.length)
        case .binary: return (.binary(Data(reader.body(h))), h.body + h.length)
        case .ext:
            if h.extType == -1 {
                let t = try reader.timestamp(h, at: offset)
                return (.timestamp(seconds: t.seconds, nanoseconds: t.nanoseconds), h.body + h.length)
            }
            return (.extension(type: h.extType, data: Data(reader.body(h))), h.body + h.length)
        case .array, .map:
            guard depth < reader.maxDepth else {
                throw MessagePackError(.depthExceeded, at: offset, "containers nest deeper than the limit of \(reader.maxDepth)")
            }
            var position = h.body
            if h.kind == .array {
                var elements: [MessagePackValue] = []
                elements.reserveCapacity(h.length)
                for _ in 0..<h.length {
                    let (element, end) = try parse(reader, at: position, depth: depth + 1)
                    elements.append(element)
                    position = end
                }
                return (.array(elements), position)
            }
            var entries: [(key: MessagePackValue, value: MessagePackValue)] = []
            entries.reserveCapacity(h.length)
            for _ in 0..<h.length {
                let (key, afterKey) = try parse(reader, at: position, depth: depth + 1)
                let (value, afterValue) = try parse(reader, at: afterKey, depth: depth + 1)
                entries.append((key, value))
                position = afterValue
            }
            return (.map(entries), position)
        }
    }

    /// The MessagePack bytes of this value, written by msgpack-c.
    public func packed() -> [UInt8] {
        let buffer = PackBuffer(capacity: 64)
        pack(into: buffer)
        return buffer.toArray()
    }

    func pack(into buffer: PackBuffer) {
        switch self {
        case .nil: buffer.packNil()
        case .bool(let v): buffer.packBool(v)
        case .int(let v): buffer.packInt(v)
        case .uint(let v): buffer.packUInt(v)
        case .float(let v): buffer.packFloat(v)
        case .double(let v): buffer.packDouble(v)
        case .string(let v): buffer.packString(v)
        case .binary(let v): v.withUnsafeBytes { buffer.packBinary($0) }
        case .array(let elements):
            buffer.packArrayHeader(elements.count)
            for e in elements { e.pack(into: buffer) }
        case .map(let entries):
            buffer.packMapHeader(entries.count)
            for (k, v) in entries { k.pack(into: buffer); v.pack(into: buffer) }
        case .extension(let type, let data): data.withUnsafeBytes { buffer.packExtension(type: type, $0) }
        case .timestamp(let s, let ns): buffer.packTimestamp(seconds: s, nanoseconds: ns)
        }
    }

    // MARK: Codable bridging

    /// The value any `Encodable` encodes to (through ``MessagePackEncoder``).
    public init<T: Encodable>(encoding value: T, options: MessagePackEncoder.Options = .init()) throws {
        let bytes = try MessagePackEncoder(options: options).encode(value)
        self = try MessagePackValue(unpacking: bytes)
    }

    /// This value decoded as a `T` (through ``MessagePackDecoder``).
    public func decode<T: Decodable>(_ type: T.Type, options: MessagePackDecoder.Options = .init()) throws -> T {
        try MessagePackDecoder(options: options).decode(type, from: packed())
    }

    // MARK: access

    /// The element at `index` of an array, else nil.
    public subscript(index: Int) -> MessagePackValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    /// The value of the first entry whose key is the string `key` in a map, else nil.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first(where: { $0.key == .string(key) })?.value
    }

    /// The integer value, if this is an integer that fits `Int64`.
    public var int64Value: Int64? {
        switch self {
        case .int(let v): v
        case .uint(let v): Int64(exactly: v)
        default: nil
        }
    }

    /// The string, if this is one.
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }

    /// Whether this is `.nil`.
    public var isNil: Bool { if case .nil = self { true } else { false } }
}

extension MessagePackValue: Hashable {
    public static func == (lhs: MessagePackValue, rhs: MessagePackValue) -> Bool {
        switch (lhs, rhs) {
        case (.nil, .nil): true
        case let (.bool(a), .bool(b)): a == b
        case let (.int(a), .int(b)): a == b
        case let (.uint(a), .uint(b)): a == b
        case let (.int(a), .uint(b)), let (.uint(b), .int(a)): a >= 0 && UInt64(a) == b
        case let (.float(a), .float(b)): a == b || (a.isNaN && b.isNaN)
        case let (.double(a), .double(b)): a == b || (a.isNaN && b.isNaN)
        case let (.string(a), .string(b)): a == b
        case let (.binary(a), .binary(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.map(a), .map(b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.extension(t1, d1), .extension(t2, d2)): t1 == t2 && d1 == d2
        case let (.timestamp(s1, n1), .timestamp(s2, n2)): s1 == s2 && n1 == n2
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .nil: hasher.combine(0)
        case .bool(let v): hasher.combine(v)
        case .int(let v): if v >= 0 { hasher.combine(UInt64(v)) } else { hasher.combine(v) }
        case .uint(let v): hasher.combine(v)
        case .float(let v): hasher.combine(v)
        case .double(let v): hasher.combine(v)
        case .string(let v): hasher.combine(v)
        case .binary(let v): hasher.combine(v)
        case .array(let v): hasher.combine(v)
        case .map(let entries):
            hasher.combine(entries.count)
            for (k, v) in entries { hasher.combine(k); hasher.combine(v) }
        case .extension(let t, let d): hasher.combine(t); hasher.combine(d)
        case .timestamp(let s, let n): hasher.combine(s); hasher.combine(n)
        }
    }
}

extension MessagePackValue: CustomStringConvertible {
    /// A Python-like rendering: `{"id": 7, "tags": ["a", "b"]}`, `b"\x01\x02"`, `nil`.
    public var description: String {
        switch self {
        case .nil: "nil"
        case .bool(let v): v ? "true" : "false"
        case .int(let v): "\(v)"
        case .uint(let v): "\(v)"
        case .float(let v): "\(v)"
        case .double(let v): "\(v)"
        case .string(let v): "\"\(v.unicodeScalars.map { $0 == "\"" ? "\\\"" : $0.escaped(asASCII: false) }.joined())\""
        case .binary(let v): "b\"" + v.map { String(format2Hex: $0) }.joined() + "\""
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .map(let entries): "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .extension(let t, let d): "ext(\(t), b\"" + d.map { String(format2Hex: $0) }.joined() + "\")"
        case .timestamp(let s, let n): "timestamp(\(s), \(n))"
        }
    }
}

extension String {
    init(format2Hex byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
    }
}

extension MessagePackValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .nil }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = value >= 0 ? .uint(UInt64(value)) : .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: MessagePackValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (MessagePackValue, MessagePackValue)...) {
        self = .map(elements.map { (key: $0.0, value: $0.1) })
    }
}
