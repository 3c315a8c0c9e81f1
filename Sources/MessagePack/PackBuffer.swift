import CMsgPack
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable output buffer driven by msgpack-c's packer: every byte the encoder writes comes
/// from msgpack-c (`msgpack_pack_*`), the project's reference implementation.
///
/// The packer keeps a pointer to its `msgpack_sbuffer`, so both live in one heap allocation
/// owned by this class and never move (NOTES-linux.md, msgpack-c).
final class PackBuffer {
    let sbuffer: UnsafeMutablePointer<msgpack_sbuffer>
    let packer: UnsafeMutablePointer<msgpack_packer>

    init(capacity: Int = 256) {
        sbuffer = .allocate(capacity: 1)
        packer = .allocate(capacity: 1)
        sbuffer.pointee = msgpack_sbuffer(size: 0, data: nil, alloc: 0)
        if capacity > 0, let data = malloc(capacity) {
            sbuffer.pointee = msgpack_sbuffer(size: 0, data: data.assumingMemoryBound(to: CChar.self), alloc: capacity)
        }
        msgpack_packer_init(packer, UnsafeMutableRawPointer(sbuffer), msgpack_sbuffer_write)
    }

    deinit {
        free(sbuffer.pointee.data)
        sbuffer.deallocate()
        packer.deallocate()
    }

    /// Bytes written so far.
    @inline(__always) var count: Int { sbuffer.pointee.size }

    /// The bytes written so far; valid until the next write.
    @inline(__always) var bytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: sbuffer.pointee.data, count: sbuffer.pointee.size)
    }

    func reset() { sbuffer.pointee.size = 0 }

    /// Bytes allocated.
    var capacity: Int { sbuffer.pointee.alloc }

    /// Drops bytes from `count` on (used to undo a frame that failed to encode).
    func truncate(to newCount: Int) { sbuffer.pointee.size = min(newCount, sbuffer.pointee.size) }

    func toArray() -> [UInt8] { Array(UnsafeRawBufferPointer(bytes)) }

    // MARK: msgpack-c packers (each writes the smallest encoding msgpack-c chooses)

    @inline(__always) func packNil() { msgpack_pack_nil(packer) }
    @inline(__always) func packBool(_ v: Bool) { if v { msgpack_pack_true(packer) } else { msgpack_pack_false(packer) } }
    @inline(__always) func packInt(_ v: Int64) { msgpack_pack_int64(packer, v) }
    @inline(__always) func packUInt(_ v: UInt64) { msgpack_pack_uint64(packer, v) }
    @inline(__always) func packFloat(_ v: Float) { msgpack_pack_float(packer, v) }
    @inline(__always) func packDouble(_ v: Double) { msgpack_pack_double(packer, v) }
    @inline(__always) func packMapHeader(_ n: Int) { msgpack_pack_map(packer, n) }
    @inline(__always) func packArrayHeader(_ n: Int) { msgpack_pack_array(packer, n) }

    @inline(__always) func packString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            msgpack_pack_str(packer, utf8.count)
            if utf8.count > 0 { msgpack_pack_str_body(packer, utf8.baseAddress, utf8.count) }
        }
    }

    @inline(__always) func packBinary(_ bytes: UnsafeRawBufferPointer) {
        msgpack_pack_bin(packer, bytes.count)
        if bytes.count > 0 { msgpack_pack_bin_body(packer, bytes.baseAddress, bytes.count) }
    }

    /// A bin header announcing `count` bytes, without the bytes (they are sent separately).
    func packBinaryHeader(count: Int) { msgpack_pack_bin(packer, count) }

    func packExtension(type: Int8, _ bytes: UnsafeRawBufferPointer) {
        msgpack_pack_ext(packer, bytes.count, type)
        if bytes.count > 0 { msgpack_pack_ext_body(packer, bytes.baseAddress, bytes.count) }
    }

    /// The timestamp extension (-1) in its smallest form: 32, 64 or 96 bits.
    func packTimestamp(seconds: Int64, nanoseconds: UInt32) {
        var ts = msgpack_timestamp(tv_sec: seconds, tv_nsec: nanoseconds)
        msgpack_pack_timestamp(packer, &ts)
    }

    /// Bytes copied as they are (an already encoded value, or a placeholder to patch).
    @inline(__always) func writeRaw(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { _ = msgpack_sbuffer_write(UnsafeMutableRawPointer(sbuffer), bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count) }
    }

    @inline(__always) func writeByte(_ byte: UInt8) {
        var b = byte
        _ = withUnsafeBytes(of: &b) { msgpack_sbuffer_write(UnsafeMutableRawPointer(sbuffer), $0.baseAddress!.assumingMemoryBound(to: CChar.self), 1) }
    }

    /// Opens a gap of `width` bytes at `offset`, moving what follows to the right.
    func insertGap(at offset: Int, width: Int) {
        let tail = count - offset
        var zeros: UInt64 = 0
        withUnsafeBytes(of: &zeros) { writeRaw(UnsafeRawBufferPointer(rebasing: $0[0..<width])) }
        let base = UnsafeMutableRawPointer(sbuffer.pointee.data!)
        if tail > 0 { memmove(base + offset + width, base + offset, tail) }
    }

    @inline(__always) func setByte(_ byte: UInt8, at offset: Int) {
        UnsafeMutableRawPointer(sbuffer.pointee.data!).storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
    }

    func setBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        UnsafeMutableRawPointer(sbuffer.pointee.data!).storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}
