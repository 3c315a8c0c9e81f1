import FoundationEssentials
import MessagePack

// Encode + decode round trips through MessagePackEncoder / MessagePackDecoder: the structs as
// annotated with @MessagePackCodable (direct), and the same structs through Codable (`_codable`).
// Python peers: Benchmarks/python/cases_codec.py.

let codecCases: [BenchmarkCase] = [
    .throughput("codec_small_struct", unit: .opsPerSecond,
                "MessagePackEncoder().encode(SmallStruct) -> [UInt8], then MessagePackDecoder().decode(SmallStruct.self, from:) of those bytes; one op = one round trip") {
        try roundTrip(SmallStruct.sample)
    },
    .throughput("codec_1k_binary", unit: .opsPerSecond,
                "encode + decode round trip of BinaryStruct {id: Int, payload: Data (1 KiB)}; one op = one round trip") {
        try roundTrip(BinaryStruct.sample)
    },
    .throughput("codec_small_struct_codable", unit: .opsPerSecond,
                "codec_small_struct for a plain Codable struct (no @MessagePackCodable): the same bytes through Codable's containers") {
        try roundTrip(CodableSmallStruct.sample)
    },
    .throughput("codec_1k_binary_codable", unit: .opsPerSecond,
                "codec_1k_binary for a plain Codable struct (no @MessagePackCodable)") {
        try roundTrip(CodableBinaryStruct.sample)
    },
]

/// One iteration: encode `value` with a fresh encoder call, decode the bytes back.
private func roundTrip<T: Codable & Equatable>(_ value: T) throws -> Workload {
    let encoder = MessagePackEncoder()
    let decoder = MessagePackDecoder()
    let bytes = try encoder.encode(value)
    guard try decoder.decode(T.self, from: bytes) == value else {
        throw BenchmarkFailure("round trip of \(T.self) changed the value")
    }
    return Workload(info: ["encoded_bytes": String(bytes.count), "encoded_crc32": String(crc32(bytes))]) {
        let encoded = try encoder.encode(value)
        let decoded = try decoder.decode(T.self, from: encoded)
        return encoded.count &+ withUnsafeBytes(of: decoded) { Int($0[0]) }
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
