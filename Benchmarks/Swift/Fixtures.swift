import FoundationEssentials
import MessagePackMacros

// The values the codec and frame cases work on. The Python peers (Benchmarks/python/fixtures.py)
// build the same values, so both sides encode to the same bytes; the cases print a CRC-32 of
// those bytes and the driver checks that the two sides agree.

/// The small struct of the issue: a Python peer sees the dict {"id", "name", "value"}. Written
/// and read directly (@MessagePackCodable); ``CodableSmallStruct`` is the same through Codable.
@MessagePackCodable
struct SmallStruct: Codable, Equatable {
    var id: Int
    var name: String
    var value: Double

    static let sample = SmallStruct(id: 123_456, name: "temperature", value: 21.5)

    /// Frame `index` of the frames stream.
    static func streamItem(_ index: Int) -> SmallStruct {
        SmallStruct(id: index, name: "worker-\(index % 100)", value: Double(index) * 0.25)
    }
}

/// A struct holding 1 KiB of bytes: the dict {"id", "payload"} with payload a bin 16.
@MessagePackCodable
struct BinaryStruct: Codable, Equatable {
    var id: Int
    var payload: Data

    static let sample = BinaryStruct(id: 7, payload: Data((0..<1024).map { UInt8($0 % 251) }))
}

/// ``SmallStruct`` without the macro: what a plain `Codable` struct costs (same bytes).
struct CodableSmallStruct: Codable, Equatable {
    var id: Int
    var name: String
    var value: Double

    static let sample = CodableSmallStruct(id: SmallStruct.sample.id, name: SmallStruct.sample.name, value: SmallStruct.sample.value)
}

/// ``BinaryStruct`` without the macro.
struct CodableBinaryStruct: Codable, Equatable {
    var id: Int
    var payload: Data

    static let sample = CodableBinaryStruct(id: BinaryStruct.sample.id, payload: BinaryStruct.sample.payload)
}

/// CRC-32 (IEEE, as Python's zlib.crc32) of `bytes`, to show both sides did the same work.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc = crc32Table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8)
    }
    return ~crc
}

private let crc32Table: [UInt32] = (0..<256).map { index in
    var crc = UInt32(index)
    for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    return crc
}
