/// The single-pass Swift reader under ``MessagePackDecoder`` and ``MessagePackValue/init(unpacking:)``.
///
/// Every read is bounds-checked against `count` and throws a ``MessagePackError`` with the byte
/// offset; nothing is allocated from a declared length before the bytes are known to be there.
/// The differential fuzz target (Fuzz/) holds it to msgpack-c's verdict on every input.
struct ByteReader {
    var base: UnsafeRawPointer?
    var count: Int
    /// Arrays and maps may nest this deep (the outermost container is depth 1).
    var maxDepth: Int

    init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.base = bytes.baseAddress
        self.count = bytes.count
        self.maxDepth = maxDepth
    }

    /// The format family of a value, read from its first byte(s).
    enum Kind: UInt8 {
        case `nil`, bool, uint, int, float32, float64, string, binary, array, map, ext
    }

    /// A decoded header: for containers and byte strings `length` is the element/byte count
    /// and `body` the offset after the header; for scalars `bits` carries the value.
    struct Header {
        var kind: Kind
        var bits: UInt64        // int/uint/bool/float bits, or the length
        var body: Int           // offset of the first byte after the header
        var extType: Int8 = 0
        @inline(__always) var length: Int { Int(truncatingIfNeeded: bits) }
    }

    @inline(__always) func byte(_ offset: Int) throws(MessagePackError) -> UInt8 {
        guard offset >= 0, offset < count, let base else {
            throw MessagePackError(.truncated, at: offset, "input ends before the value is complete (\(count) bytes)")
        }
        return base.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always) func bigEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int, what: StaticString) throws(MessagePackError) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset + size <= count, let base else {
            throw MessagePackError(.truncated, at: offset, "\(what) needs \(size) byte\(size == 1 ? "" : "s"), input ends at \(count)")
        }
        return T(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Checks that `length` bytes starting at `offset` are present.
    /// Checks that `length` bytes starting at `offset` are present; an error points at the
    /// value's first byte, `start`.
    @inline(__always) func require(_ length: Int, at offset: Int, start: Int, what: StaticString) throws(MessagePackError) {
        guard length >= 0, length <= count - offset else {
            throw MessagePackError(.lengthExceedsInput, at: start, "\(what) declares \(length) bytes but only \(Swift.max(0, count - offset)) remain")
        }
    }

    func header(at offset: Int) throws(MessagePackError) -> Header {
        let b = try byte(offset)
        let next = offset + 1
        switch b {
        case 0x00...0x7f: return Header(kind: .uint, bits: UInt64(b), body: next)
        case 0x80...0x8f: return Header(kind: .map, bits: UInt64(b & 0x0f), body: next)
        case 0x90...0x9f: return Header(kind: .array, bits: UInt64(b & 0x0f), body: next)
        case 0xa0...0xbf:
            let n = Int(b & 0x1f)
            try require(n, at: next, start: offset, what: "fixstr")
            return Header(kind: .string, bits: UInt64(n), body: next)
        case 0xc0: return Header(kind: .nil, bits: 0, body: next)
        case 0xc1: throw MessagePackError(.reservedByte, at: offset, "byte 0xc1 is reserved and starts no value")
        case 0xc2: return Header(kind: .bool, bits: 0, body: next)
        case 0xc3: return Header(kind: .bool, bits: 1, body: next)
        case 0xc4: return try sized(.binary, UInt64(bigEndian(UInt8.self, at: next, what: "bin8 length")), header: 1, at: next, what: "bin8")
        case 0xc5: return try sized(.binary, UInt64(bigEndian(UInt16.self, at: next, what: "bin16 length")), header: 2, at: next, what: "bin16")
        case 0xc6: return try sized(.binary, UInt64(bigEndian(UInt32.self, at: next, what: "bin32 length")), header: 4, at: next, what: "bin32")
        case 0xc7: return try ext(length: Int(bigEndian(UInt8.self, at: next, what: "ext8 length")), header: 1, at: next, what: "ext8")
        case 0xc8: return try ext(length: Int(bigEndian(UInt16.self, at: next, what: "ext16 length")), header: 2, at: next, what: "ext16")
        case 0xc9: return try ext(length: Int(bigEndian(UInt32.self, at: next, what: "ext32 length")), header: 4, at: next, what: "ext32")
        case 0xca: return Header(kind: .float32, bits: UInt64(try bigEndian(UInt32.self, at: next, what: "float32")), body: next + 4)
        case 0xcb: return Header(kind: .float64, bits: try bigEndian(UInt64.self, at: next, what: "float64"), body: next + 8)
        case 0xcc: return Header(kind: .uint, bits: UInt64(try bigEndian(UInt8.self, at: next, what: "uint8")), body: next + 1)
        case 0xcd: return Header(kind: .uint, bits: UInt64(try bigEndian(UInt16.self, at: next, what: "uint16")), body: next + 2)
        case 0xce: return Header(kind: .uint, bits: UInt64(try bigEndian(UInt32.self, at: next, what: "uint32")), body: next + 4)
        case 0xcf: return Header(kind: .uint, bits: try bigEndian(UInt64.self, at: next, what: "uint64"), body: next + 8)
        case 0xd0: return Header(kind: .int, bits: UInt64(bitPattern: Int64(try bigEndian(Int8.self, at: next, what: "int8"))), body: next + 1)
        case 0xd1: return Header(kind: .int, bits: UInt64(bitPattern: Int64(try bigEndian(Int16.self, at: next, what: "int16"))), body: next + 2)
        case 0xd2: return Header(kind: .int, bits: UInt64(bitPattern: Int64(try bigEndian(Int32.self, at: next, what: "int32"))), body: next + 4)
        case 0xd3: return Header(kind: .int, bits: UInt64(bitPattern: try bigEndian(Int64.self, at: next, what: "int64")), body: next + 8)
        case 0xd4: return try ext(length: 1, header: 0, at: next, what: "fixext1")
        case 0xd5: return try ext(length: 2, header: 0, at: next, what: "fixext2")
        case 0xd6: return try ext(length: 4, header: 0, at: next, what: "fixext4")
        case 0xd7: return try ext(length: 8, header: 0, at: next, what: "fixext8")
        case 0xd8: return try ext(length: 16, header: 0, at: next, what: "fixext16")
        case 0xd9: return try sized(.string, UInt64(bigEndian(UInt8.self, at: next, what: "str8 length")), header: 1, at: next, what: "str8")
        case 0xda: return try sized(.string, UInt64(bigEndian(UInt16.self, at: next, what: "str16 length")), header: 2, at: next, what: "str16")
        case 0xdb: return try sized(.string, UInt64(bigEndian(UInt32.self, at: next, what: "str32 length")), header: 4, at: next, what: "str32")
        case 0xdc: return try container(.array, Int(bigEndian(UInt16.self, at: next, what: "array16 count")), header: 2, at: next, what: "array16")
        case 0xdd: return try container(.array, Int(bigEndian(UInt32.self, at: next, what: "array32 count")), header: 4, at: next, what: "array32")
        case 0xde: return try container(.map, Int(bigEndian(UInt16.self, at: next, what: "map16 count")), header: 2, at: next, what: "map16")
        case 0xdf: return try container(.map, Int(bigEndian(UInt32.self, at: next, what: "map32 count")), header: 4, at: next, what: "map32")
        default: return Header(kind: .int, bits: UInt64(bitPattern: Int64(Int8(bitPattern: b))), body: next)   // negative fixint
        }
    }

    @inline(__always) private func sized(_ kind: Kind, _ length: UInt64, header: Int, at offset: Int, what: StaticString) throws(MessagePackError) -> Header {
        let body = offset + header
        try require(Int(length), at: body, start: offset - 1, what: what)
        return Header(kind: kind, bits: length, body: body)
    }

    @inline(__always) private func ext(length: Int, header: Int, at offset: Int, what: StaticString) throws(MessagePackError) -> Header {
        let type = Int8(bitPattern: try bigEndian(UInt8.self, at: offset + header, what: "extension type"))
        let body = offset + header + 1
        try require(length, at: body, start: offset - 1, what: what)
        return Header(kind: .ext, bits: UInt64(length), body: body, extType: type)
    }

    /// A container's declared count must be payable: at least one byte per element (two per
    /// map entry) must remain, so a 5-byte header cannot ask for gigabytes (msgpack-c's hazard).
    @inline(__always) private func container(_ kind: Kind, _ n: Int, header: Int, at offset: Int, what: StaticString) throws(MessagePackError) -> Header {
        let body = offset + header
        let minimum = kind == .map ? n * 2 : n
        guard minimum <= count - body else {
            throw MessagePackError(.lengthExceedsInput, at: offset - 1, "\(what) declares \(n) \(kind == .map ? "entries" : "elements") but only \(Swift.max(0, count - body)) bytes remain")
        }
        return Header(kind: kind, bits: UInt64(n), body: body)
    }

    /// The offset just past the value at `offset`, checking its whole structure on the way:
    /// lengths, the reserved byte, UTF-8 when `validate`, timestamps, and the depth limit.
    @inline(__always)
    func skip(at offset: Int, depth: Int = 0, validate: Bool = false) throws(MessagePackError) -> Int {
        // Fast path for the scalars that fill most messages: one byte tells their whole size.
        if !validate, offset >= 0, offset < count, let base {
            let b = base.load(fromByteOffset: offset, as: UInt8.self)
            let size: Int
            switch b {
            case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3: size = 1
            case 0xa0...0xbf: size = 1 + Int(b & 0x1f)
            case 0xcc, 0xd0: size = 2
            case 0xcd, 0xd1: size = 3
            case 0xca, 0xce, 0xd2: size = 5
            case 0xcb, 0xcf, 0xd3: size = 9
            default: size = 0
            }
            if size > 0 {
                guard size <= count - offset else { return try skipSlowly(at: offset, depth: depth, validate: validate) }
                return offset + size
            }
        }
        return try skipSlowly(at: offset, depth: depth, validate: validate)
    }

    private func skipSlowly(at offset: Int, depth: Int, validate: Bool) throws(MessagePackError) -> Int {
        let h = try header(at: offset)
        switch h.kind {
        case .nil, .bool, .uint, .int, .float32, .float64: return h.body
        case .binary: return h.body + h.length
        case .string:
            if validate { _ = try string(h, at: offset) }
            return h.body + h.length
        case .ext:
            if h.extType == -1 && validate { _ = try timestamp(h, at: offset) }
            return h.body + h.length
        case .array, .map:
            guard depth < maxDepth else {
                throw MessagePackError(.depthExceeded, at: offset, "containers nest deeper than the limit of \(maxDepth)")
            }
            var position = h.body
            let elements = h.kind == .map ? h.length * 2 : h.length
            for _ in 0..<elements { position = try skip(at: position, depth: depth + 1, validate: validate) }
            return position
        }
    }

    /// The string a `.string` header describes, validated as UTF-8.
    @inline(__always) func string(_ h: Header, at offset: Int) throws(MessagePackError) -> String {
        let raw = UnsafeRawBufferPointer(start: base! + h.body, count: h.length)
        // ASCII fast path: bytes below 0x80 are valid UTF-8 on their own, and the generic
        // validating initializer costs more than the whole rest of a small struct's decode.
        if isASCII(raw) { return String(decoding: raw, as: UTF8.self) }
        if let s = String(validating: raw, as: UTF8.self) { return s }
        throw MessagePackError(.invalidUTF8, at: offset, "string of \(h.length) bytes is not valid UTF-8")
    }

    @inline(__always) private func isASCII(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        var bits: UInt64 = 0
        while i + 8 <= raw.count {
            bits |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < raw.count {
            bits |= UInt64(raw[i])
            i += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    /// The raw body bytes of a string, binary or extension header.
    @inline(__always) func body(_ h: Header) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: h.length == 0 ? UnsafeRawPointer(bitPattern: 1) : base! + h.body, count: h.length)
    }

    /// Seconds and nanoseconds of a timestamp extension (type -1) in its 4, 8 or 12-byte form.
    func timestamp(_ h: Header, at offset: Int) throws(MessagePackError) -> (seconds: Int64, nanoseconds: UInt32) {
        switch h.length {
        case 4:
            return (Int64(try bigEndian(UInt32.self, at: h.body, what: "timestamp32")), 0)
        case 8:
            let v = try bigEndian(UInt64.self, at: h.body, what: "timestamp64")
            let nanos = UInt32(v >> 34)
            guard nanos < 1_000_000_000 else {
                throw MessagePackError(.invalidTimestamp, at: offset, "timestamp64 nanoseconds \(nanos) are not below 1e9")
            }
            return (Int64(v & 0x3_ffff_ffff), nanos)
        case 12:
            let nanos = try bigEndian(UInt32.self, at: h.body, what: "timestamp96 nanoseconds")
            guard nanos < 1_000_000_000 else {
                throw MessagePackError(.invalidTimestamp, at: offset, "timestamp96 nanoseconds \(nanos) are not below 1e9")
            }
            return (try bigEndian(Int64.self, at: h.body + 4, what: "timestamp96 seconds"), nanos)
        default:
            throw MessagePackError(.invalidTimestamp, at: offset, "timestamp extension has \(h.length) bytes; it must have 4, 8 or 12")
        }
    }
}

extension ByteReader.Kind: CustomStringConvertible {
    var description: String {
        switch self {
        case .nil: "nil"
        case .bool: "bool"
        case .uint: "positive integer"
        case .int: "negative integer"
        case .float32: "float32"
        case .float64: "float64"
        case .string: "string"
        case .binary: "binary"
        case .array: "array"
        case .map: "map"
        case .ext: "extension"
        }
    }
}
