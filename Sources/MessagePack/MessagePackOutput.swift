/// A buffer MessagePack headers and values can be written into in place, one at a time, with no
/// value tree in between: the header-level writer of the wire format.
///
/// A conforming buffer supplies two primitives (one byte, raw bytes); the `pack…` methods of
/// this protocol's extension write every MessagePack form from them, each in the smallest
/// encoding, the bytes PyPI `msgpack.packb(value, use_bin_type=True)` and msgpack-c write.
/// `[UInt8]` conforms here; Multiprocessing makes NIO's `ByteBuffer` conform in its own module
/// (this module does not depend on NIO).
///
/// Use it for frames whose layout is fixed and known (envelopes, protocol headers, a reply
/// that wraps already encoded items in `bin`); use ``MessagePackEncoder`` for `Codable` values.
/// Counts and lengths above `UInt32.max` are programming errors and trap.
///
/// ```swift
/// var bytes: [UInt8] = []
/// bytes.packArrayHeader(3)        // 93
/// bytes.packUInt(7)               // 07
/// bytes.packString("ok")          // a2 6f 6b
/// bytes.packBinaryHeader(count: blob.count)   // c4 nn, then the caller's bytes:
/// blob.withUnsafeBytes { bytes.packRaw($0) }
/// ```
public protocol MessagePackOutput {
    /// Appends one byte as it is.
    mutating func packRawByte(_ byte: UInt8)
    /// Appends bytes as they are: an already encoded value, or the body after a string or
    /// binary header.
    mutating func packRaw(_ bytes: UnsafeRawBufferPointer)
    /// Appends `value` in big-endian byte order (a default writes it through ``packRaw(_:)``).
    mutating func packBigEndian<T: FixedWidthInteger>(_ value: T)
}

extension MessagePackOutput {
    @inlinable
    public mutating func packBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { packRaw($0) }
    }

    /// A marker byte and a big-endian field after it.
    @inlinable @inline(__always)
    mutating func packMarker<T: FixedWidthInteger>(_ marker: UInt8, _ field: T) {
        packRawByte(marker)
        packBigEndian(field)
    }

    /// Writes nil (`c0`).
    @inlinable
    public mutating func packNil() { packRawByte(0xc0) }

    /// Writes a boolean (`c2` false, `c3` true).
    @inlinable
    public mutating func packBool(_ value: Bool) { packRawByte(value ? 0xc3 : 0xc2) }

    /// Writes an unsigned integer in its smallest form: positive fixint, then uint 8, 16, 32, 64.
    @inlinable
    public mutating func packUInt(_ value: UInt64) {
        switch value {
        case 0..<0x80: packRawByte(UInt8(truncatingIfNeeded: value))
        case 0..<0x100: packMarker(0xcc, UInt8(truncatingIfNeeded: value))
        case 0..<0x1_0000: packMarker(0xcd, UInt16(truncatingIfNeeded: value))
        case 0..<0x1_0000_0000: packMarker(0xce, UInt32(truncatingIfNeeded: value))
        default: packMarker(0xcf, value)
        }
    }

    /// Writes a signed integer in its smallest form: a non-negative value as ``packUInt(_:)``
    /// writes it (as PyPI msgpack and msgpack-c do), a negative one as negative fixint (-32...-1),
    /// then int 8, 16, 32, 64.
    @inlinable
    public mutating func packInt(_ value: Int64) {
        if value >= 0 { return packUInt(UInt64(value)) }
        switch value {
        case -32 ..< 0: packRawByte(UInt8(truncatingIfNeeded: value))
        case -0x80 ..< 0: packMarker(0xd0, Int8(truncatingIfNeeded: value))
        case -0x8000 ..< 0: packMarker(0xd1, Int16(truncatingIfNeeded: value))
        case -0x8000_0000 ..< 0: packMarker(0xd2, Int32(truncatingIfNeeded: value))
        default: packMarker(0xd3, value)
        }
    }

    /// Writes `value` in the uint or int format of its type's width (`UInt32` as uint 32, `ce`
    /// and four bytes; `Int16` as int 16, `d1` and two bytes), never smaller: a placeholder
    /// whose value the caller patches later, in place, at the same width (the field starts one
    /// byte after where this call began writing).
    ///
    /// ```swift
    /// let at = bytes.count
    /// bytes.packFixedWidth(UInt32(0))            // ce 00 00 00 00
    /// ...                                        // count the elements
    /// bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(n).bigEndian, toByteOffset: at + 1, as: UInt32.self) }
    /// ```
    @inlinable
    public mutating func packFixedWidth<T: FixedWidthInteger>(_ value: T) {
        let base: UInt8 = T.isSigned ? 0xd0 : 0xcc
        switch T.bitWidth {
        case 8: packMarker(base, value)
        case 16: packMarker(base + 1, value)
        case 32: packMarker(base + 2, value)
        case 64: packMarker(base + 3, value)
        default: preconditionFailure("MessagePack integers are 8, 16, 32 or 64 bits wide, not \(T.bitWidth)")
        }
    }

    /// Writes a float 32 (`ca`).
    @inlinable
    public mutating func packFloat(_ value: Float) { packMarker(0xca, value.bitPattern) }

    /// Writes a float 64 (`cb`).
    @inlinable
    public mutating func packDouble(_ value: Double) { packMarker(0xcb, value.bitPattern) }

    /// Writes a string header for `count` bytes of UTF-8 in its smallest form (fixstr, str 8,
    /// 16, 32); the caller appends the bytes with ``packRaw(_:)``.
    @inlinable
    public mutating func packStringHeader(count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "a MessagePack string of \(count) bytes")
        switch count {
        case 0..<32: packRawByte(0xa0 | UInt8(truncatingIfNeeded: count))
        case 0..<0x100: packMarker(0xd9, UInt8(truncatingIfNeeded: count))
        case 0..<0x1_0000: packMarker(0xda, UInt16(truncatingIfNeeded: count))
        default: packMarker(0xdb, UInt32(truncatingIfNeeded: count))
        }
    }

    /// Writes a string: its header, then its UTF-8 bytes.
    @inlinable
    public mutating func packString(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            packStringHeader(count: utf8.count)
            packRaw(UnsafeRawBufferPointer(utf8))
        }
    }

    /// Writes a binary header for `count` bytes in its smallest form (bin 8, 16, 32); the
    /// caller appends the bytes with ``packRaw(_:)``, or sends them separately.
    @inlinable
    public mutating func packBinaryHeader(count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "a MessagePack binary of \(count) bytes")
        switch count {
        case 0..<0x100: packMarker(0xc4, UInt8(truncatingIfNeeded: count))
        case 0..<0x1_0000: packMarker(0xc5, UInt16(truncatingIfNeeded: count))
        default: packMarker(0xc6, UInt32(truncatingIfNeeded: count))
        }
    }

    /// Writes a binary value: its header, then `bytes`.
    @inlinable
    public mutating func packBinary(_ bytes: UnsafeRawBufferPointer) {
        packBinaryHeader(count: bytes.count)
        packRaw(bytes)
    }

    /// Writes an array header for `count` elements (fixarray, array 16, 32); the caller writes
    /// the elements after it.
    @inlinable
    public mutating func packArrayHeader(_ count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "a MessagePack array of \(count) elements")
        switch count {
        case 0..<16: packRawByte(0x90 | UInt8(truncatingIfNeeded: count))
        case 0..<0x1_0000: packMarker(0xdc, UInt16(truncatingIfNeeded: count))
        default: packMarker(0xdd, UInt32(truncatingIfNeeded: count))
        }
    }

    /// Writes a map header for `count` entries (fixmap, map 16, 32); the caller writes each
    /// key and then its value after it.
    @inlinable
    public mutating func packMapHeader(_ count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "a MessagePack map of \(count) entries")
        switch count {
        case 0..<16: packRawByte(0x80 | UInt8(truncatingIfNeeded: count))
        case 0..<0x1_0000: packMarker(0xde, UInt16(truncatingIfNeeded: count))
        default: packMarker(0xdf, UInt32(truncatingIfNeeded: count))
        }
    }
}

extension Array: MessagePackOutput where Element == UInt8 {
    /// Appends one byte.
    @inlinable
    public mutating func packRawByte(_ byte: UInt8) { append(byte) }

    /// Appends bytes as they are.
    @inlinable
    public mutating func packRaw(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
    /// Byte by byte: `append(contentsOf:)` of a raw buffer takes the generic path, which cost
    /// more than the rest of packing an integer.
    @inlinable
    public mutating func packBigEndian<T: FixedWidthInteger>(_ value: T) {
        var shift = T.bitWidth - 8
        while shift >= 0 {
            append(UInt8(truncatingIfNeeded: value >> shift))
            shift -= 8
        }
    }
}
