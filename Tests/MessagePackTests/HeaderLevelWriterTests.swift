import Foundation
import Testing
@testable import MessagePack

/// `MessagePackOutput`, the header-level writer: each call's bytes are the bytes PyPI msgpack
/// 1.0 writes for the same value (`msgpack.packb(value, use_bin_type=True)`, the table below was
/// produced with it once), msgpack-c's packer agrees, and every width boundary reads back.
@Suite struct HeaderLevelWriterTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var call: String
        /// What PyPI msgpack writes before the body (the whole value when `body` is 0).
        var header: String
        /// Bytes of string body the call writes after the header (only `packString` writes one).
        var body = 0
        var write: @Sendable (inout [UInt8]) -> Void
        var testDescription: String { call }
    }

    static func row(_ call: String, _ header: String, body: Int = 0, _ write: @escaping @Sendable (inout [UInt8]) -> Void) -> Row {
        Row(call: call, header: header, body: body, write: write)
    }

    /// `python3 -c 'import msgpack; print(msgpack.packb(V, use_bin_type=True).hex())'` for each V
    /// (`use_single_float=True` for the float 32; for headers, the bytes before the body).
    static let pypi: [Row] = [
        row("packNil()", "c0") { $0.packNil() },
        row("packBool(true)", "c3") { $0.packBool(true) },
        row("packBool(false)", "c2") { $0.packBool(false) },
        row("packUInt(0)", "00") { $0.packUInt(0) },
        row("packUInt(0x7f)", "7f") { $0.packUInt(0x7f) },
        row("packUInt(0x80)", "cc80") { $0.packUInt(0x80) },
        row("packUInt(0xff)", "ccff") { $0.packUInt(0xff) },
        row("packUInt(0x100)", "cd0100") { $0.packUInt(0x100) },
        row("packUInt(0xffff)", "cdffff") { $0.packUInt(0xffff) },
        row("packUInt(0x10000)", "ce00010000") { $0.packUInt(0x10000) },
        row("packUInt(2^32-1)", "ceffffffff") { $0.packUInt(0xffff_ffff) },
        row("packUInt(2^32)", "cf0000000100000000") { $0.packUInt(0x1_0000_0000) },
        row("packUInt(2^64-1)", "cfffffffffffffffff") { $0.packUInt(.max) },
        row("packInt(0)", "00") { $0.packInt(0) },
        row("packInt(0x7f)", "7f") { $0.packInt(0x7f) },
        row("packInt(0x80)", "cc80") { $0.packInt(0x80) },
        row("packInt(0xffff)", "cdffff") { $0.packInt(0xffff) },
        row("packInt(0x10000)", "ce00010000") { $0.packInt(0x10000) },
        row("packInt(2^32)", "cf0000000100000000") { $0.packInt(0x1_0000_0000) },
        row("packInt(Int64.max)", "cf7fffffffffffffff") { $0.packInt(.max) },
        row("packInt(-1)", "ff") { $0.packInt(-1) },
        row("packInt(-32)", "e0") { $0.packInt(-32) },
        row("packInt(-33)", "d0df") { $0.packInt(-33) },
        row("packInt(-128)", "d080") { $0.packInt(-128) },
        row("packInt(-129)", "d1ff7f") { $0.packInt(-129) },
        row("packInt(-32768)", "d18000") { $0.packInt(-32768) },
        row("packInt(-32769)", "d2ffff7fff") { $0.packInt(-32769) },
        row("packInt(-2^31)", "d280000000") { $0.packInt(-0x8000_0000) },
        row("packInt(-2^31-1)", "d3ffffffff7fffffff") { $0.packInt(-0x8000_0001) },
        row("packInt(Int64.min)", "d38000000000000000") { $0.packInt(.min) },
        row("packDouble(1.5)", "cb3ff8000000000000") { $0.packDouble(1.5) },
        row("packFloat(1.5)", "ca3fc00000") { $0.packFloat(1.5) },
        row("packString(0 bytes)", "a0", body: 0) { $0.packString("") },
        row("packString(1 byte)", "a1", body: 1) { $0.packString("x") },
        row("packString(31 bytes)", "bf", body: 31) { $0.packString(String(repeating: "x", count: 31)) },
        row("packString(32 bytes)", "d920", body: 32) { $0.packString(String(repeating: "x", count: 32)) },
        row("packString(255 bytes)", "d9ff", body: 255) { $0.packString(String(repeating: "x", count: 255)) },
        row("packString(256 bytes)", "da0100", body: 256) { $0.packString(String(repeating: "x", count: 256)) },
        row("packString(65535 bytes)", "daffff", body: 65535) { $0.packString(String(repeating: "x", count: 65535)) },
        row("packString(65536 bytes)", "db00010000", body: 65536) { $0.packString(String(repeating: "x", count: 65536)) },
        row("packBinaryHeader(count: 0)", "c400") { $0.packBinaryHeader(count: 0) },
        row("packBinaryHeader(count: 255)", "c4ff") { $0.packBinaryHeader(count: 255) },
        row("packBinaryHeader(count: 256)", "c50100") { $0.packBinaryHeader(count: 256) },
        row("packBinaryHeader(count: 65535)", "c5ffff") { $0.packBinaryHeader(count: 65535) },
        row("packBinaryHeader(count: 65536)", "c600010000") { $0.packBinaryHeader(count: 65536) },
        row("packArrayHeader(0)", "90") { $0.packArrayHeader(0) },
        row("packArrayHeader(15)", "9f") { $0.packArrayHeader(15) },
        row("packArrayHeader(16)", "dc0010") { $0.packArrayHeader(16) },
        row("packArrayHeader(65535)", "dcffff") { $0.packArrayHeader(65535) },
        row("packArrayHeader(65536)", "dd00010000") { $0.packArrayHeader(65536) },
        row("packMapHeader(0)", "80") { $0.packMapHeader(0) },
        row("packMapHeader(15)", "8f") { $0.packMapHeader(15) },
        row("packMapHeader(16)", "de0010") { $0.packMapHeader(16) },
        row("packMapHeader(65535)", "deffff") { $0.packMapHeader(65535) },
        row("packMapHeader(65536)", "df00010000") { $0.packMapHeader(65536) },
    ]

    @Test(arguments: pypi)
    func writesWhatPyPIMsgpackWrites(_ row: Row) {
        var out: [UInt8] = []
        row.write(&out)
        #expect(hex(Array(out.prefix(out.count - row.body))) == row.header)
        #expect(out.count == row.header.count / 2 + row.body)
        #expect(out.suffix(row.body).allSatisfy { $0 == UInt8(ascii: "x") })
    }

    /// msgpack-c's packer, the encoder's, writes the same bytes for the same values.
    @Test func agreesWithMsgpackC() {
        let unsigned: [UInt64] = [0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, .max]
        let signed: [Int64] = [0, 0x7f, 0x80, -1, -32, -33, -128, -129, -0x8000, -0x8001, -0x8000_0000, -0x8000_0001, .min, .max]
        let counts = [0, 15, 16, 31, 32, 255, 256, 0xffff, 0x1_0000]
        for value in unsigned { expectSame({ $0.packUInt(value) }, { $0.packUInt(value) }, "uint \(value)") }
        for value in signed { expectSame({ $0.packInt(value) }, { $0.packInt(value) }, "int \(value)") }
        for n in counts {
            expectSame({ $0.packArrayHeader(n) }, { $0.packArrayHeader(n) }, "array \(n)")
            expectSame({ $0.packMapHeader(n) }, { $0.packMapHeader(n) }, "map \(n)")
            expectSame({ $0.packBinaryHeader(count: n) }, { $0.packBinaryHeader(count: n) }, "bin \(n)")
            let text = String(repeating: "é", count: n / 2)
            expectSame({ $0.packString(text) }, { $0.packString(text) }, "string of \(text.utf8.count) bytes")
        }
        expectSame({ $0.packNil(); $0.packBool(true); $0.packBool(false) }, { $0.packNil(); $0.packBool(true); $0.packBool(false) }, "nil, bools")
        expectSame({ $0.packFloat(-0.25); $0.packDouble(.pi) }, { $0.packFloat(-0.25); $0.packDouble(.pi) }, "floats")
    }

    private func expectSame(_ swift: (inout [UInt8]) -> Void, _ c: (PackBuffer) -> Void, _ what: String) {
        var out: [UInt8] = []
        swift(&out)
        let buffer = PackBuffer()
        c(buffer)
        #expect(hex(out) == hex(buffer.toArray()), "\(what)")
    }

    @Test func aFixedWidthIntegerKeepsItsTypesWidth() throws {
        var out: [UInt8] = []
        out.packFixedWidth(UInt8(1)); out.packFixedWidth(UInt16(1)); out.packFixedWidth(UInt32(1)); out.packFixedWidth(UInt64(1))
        out.packFixedWidth(Int8(-1)); out.packFixedWidth(Int16(-1)); out.packFixedWidth(Int32(-1)); out.packFixedWidth(Int64(-1))
        #expect(hex(out) == "cc01" + "cd0001" + "ce00000001" + "cf0000000000000001" + "d0ff" + "d1ffff" + "d2ffffffff" + "d3ffffffffffffffff")
        // Patched in place afterwards, the value reads back at the same width.
        out.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(0xdead_beef).bigEndian, toByteOffset: 6, as: UInt32.self) }
        try out.withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw)
            #expect(try reader.readUInt() == 1)
            #expect(try reader.readUInt() == 1)
            #expect(try reader.readUInt() == 0xdead_beef)
        }
    }

    @Test func binaryAndRawValuesAreCopiedAsTheyAre() throws {
        var out: [UInt8] = []
        out.packArrayHeader(2)
        [UInt8]([1, 2, 3]).withUnsafeBytes { out.packBinary($0) }
        MessagePackValue.string("hi").packed().withUnsafeBytes { out.packRaw($0) }
        #expect(hex(out) == "92c403010203a26869")
        #expect(try MessagePackValue(unpacking: out) == [.binary(Data([1, 2, 3])), "hi"])
    }

    // MARK: round trips at every width boundary

    static let unsignedEdges: [UInt64] = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, UInt64(Int64.max), .max]
    static let signedEdges: [Int64] = [0, 0x7f, 0x80, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, .max,
                                       -1, -32, -33, -0x80, -0x81, -0x8000, -0x8001, -0x8000_0000, -0x8000_0001, .min]

    @Test(arguments: unsignedEdges)
    func unsignedRoundTrip(_ value: UInt64) throws {
        for v in [value, value &- 1, value &+ 1] {
            var out: [UInt8] = []
            out.packUInt(v)
            try out.withUnsafeBytes { raw throws in
                var reader = MessagePackReader(raw)
                #expect(try reader.peekType() == .unsignedInteger)
                #expect(try reader.readUInt() == v)
                #expect(reader.isAtEnd)
            }
            #expect(try MessagePackValue(unpacking: out) == .uint(v))
        }
    }

    @Test(arguments: signedEdges)
    func signedRoundTrip(_ value: Int64) throws {
        for v in [value, value &- 1, value &+ 1] {
            var out: [UInt8] = []
            out.packInt(v)
            try out.withUnsafeBytes { raw throws in
                var reader = MessagePackReader(raw)
                #expect(try reader.peekType() == (v < 0 ? .signedInteger : .unsignedInteger))
                #expect(try reader.readInt() == v)
                #expect(reader.isAtEnd)
            }
            #expect(try MessagePackValue(unpacking: out) == .int(v))
        }
    }

    @Test(arguments: [0, 1, 15, 16, 31, 32, 255, 256, 0xffff, 0x1_0000])
    func headersRoundTrip(_ count: Int) throws {
        var out: [UInt8] = []
        let text = String(repeating: "y", count: count)
        out.packString(text)
        out.packBinaryHeader(count: count)
        out.append(contentsOf: repeatElement(7, count: count))
        out.packArrayHeader(count)
        out.append(contentsOf: repeatElement(0xc0, count: count))
        out.packMapHeader(count)
        out.append(contentsOf: repeatElement(0x01, count: 2 * count))
        try out.withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw)
            #expect(try reader.readString() == text)
            let binary = try reader.readBinary()
            #expect(binary.count == count && binary.allSatisfy { $0 == 7 })
            #expect(try reader.readArrayHeader() == count)
            for _ in 0..<count { try reader.readNil() }
            #expect(try reader.readMapHeader() == count)
            for _ in 0..<2 * count { #expect(try reader.readInteger(UInt8.self) == 1) }
            #expect(reader.isAtEnd)
        }
    }
}
