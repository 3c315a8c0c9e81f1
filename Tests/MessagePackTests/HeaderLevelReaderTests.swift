import Foundation
import Testing
@testable import MessagePack

/// `MessagePackReader`, the header-level reader: bad input of every kind is a typed error with
/// the offset where it was found, never a trap, and a failed read does not move the cursor.
@Suite struct HeaderLevelReaderTests {
    /// The error `read` throws on `hex`, and the reader's offset afterwards.
    private func failure(_ hex: String, _ read: (inout MessagePackReader) throws -> Void) -> (MessagePackError?, Int) {
        bytes(hex).withUnsafeBytes { raw in
            var reader = MessagePackReader(raw)
            do {
                try read(&reader)
                return (nil, reader.offset)
            } catch {
                return (error as? MessagePackError, reader.offset)
            }
        }
    }

    private func expectError(_ hex: String, _ code: MessagePackError.Code, at offset: Int, cursor: Int? = nil,
                             _ read: (inout MessagePackReader) throws -> Void,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        let (error, after) = failure(hex, read)
        #expect(error?.code == code, "\(hex): \(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.offset == offset, "\(hex): \(String(describing: error))", sourceLocation: sourceLocation)
        if let cursor { #expect(after == cursor, "the cursor after the failed read", sourceLocation: sourceLocation) }
    }

    @Test func readsAFixedLayoutInPlace() throws {
        // [5, -3, nil, true, "ok", bin(01 02), {"k": 1.5}]
        let input = bytes("97" + "05" + "fd" + "c0" + "c3" + "a26f6b" + "c4020102" + "81a16bcb3ff8000000000000")
        try input.withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw)
            #expect(try reader.peekType() == .array)
            #expect(try reader.readArrayHeader() == 7)
            #expect(try reader.readUInt() == 5)
            #expect(try reader.readInt() == -3)
            #expect(try reader.readNilIfPresent())
            #expect(try !reader.readNilIfPresent())
            #expect(try reader.readBool())
            #expect(try reader.readString() == "ok")
            let binary = try reader.readBinary()
            #expect(Array(binary) == [1, 2])
            #expect(binary.baseAddress == raw.baseAddress! + 10, "a slice of the input, not a copy")
            #expect(try reader.readMapHeader() == 1)
            #expect(String(decoding: try reader.readStringBytes(), as: UTF8.self) == "k")
            #expect(try reader.readDouble() == 1.5)
            #expect(reader.isAtEnd)
            #expect(reader.remainingBytes.isEmpty)
        }
    }

    @Test func anyIntegerEncodingReadsByValue() throws {
        // 5 as fixint, uint 16, int 8 and int 64; -1 as negative fixint and int 32.
        try bytes("05" + "cd0005" + "d005" + "d30000000000000005" + "ff" + "d2ffffffff").withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw)
            for _ in 0..<4 { #expect(try reader.readInteger(UInt8.self) == 5) }
            #expect(try reader.readInteger(Int8.self) == -1)
            #expect(try reader.readInteger(Int.self) == -1)
        }
    }

    @Test func skipAndRawValueTakeWholeValues() throws {
        let input = bytes("92" + "82a161c0a16291c3" + "07")
        try input.withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw)
            #expect(try reader.readArrayHeader() == 2)
            let start = reader.offset
            try reader.skipValue()
            #expect(reader.offset == 9)
            #expect(try reader.readValue() == .uint(7))
            var again = MessagePackReader(raw)
            _ = try again.readArrayHeader()
            #expect(Array(try again.readRawValue()) == Array(input[start..<9]))
            #expect(try again.readValue() == 7)
        }
    }

    // MARK: errors

    @Test func truncatedInputIsTruncatedAtTheMissingByte() {
        expectError("", .truncated, at: 0, cursor: 0) { _ = try $0.peekType() }
        expectError("cd01", .truncated, at: 1, cursor: 0) { _ = try $0.readUInt() }
        expectError("9201cd00", .truncated, at: 3, cursor: 2) { _ = try $0.readArrayHeader(); _ = try $0.readUInt(); _ = try $0.readUInt() }
        expectError("d3000000", .truncated, at: 1) { _ = try $0.readInt() }
        expectError("cb3ff8", .truncated, at: 1) { _ = try $0.readDouble() }
        expectError("c5", .truncated, at: 1) { _ = try $0.readBinary() }
        expectError("dd0000", .truncated, at: 1) { _ = try $0.readArrayHeader() }
        expectError("", .truncated, at: 0) { _ = try $0.readNilIfPresent() }
        expectError("92c3", .truncated, at: 2) { try $0.skipValue() }
    }

    @Test func aValueOfAnotherTypeIsATypeMismatchAtItsFirstByte() {
        expectError("a161", .typeMismatch, at: 0, cursor: 0) { _ = try $0.readUInt() }
        expectError("01", .typeMismatch, at: 0, cursor: 0) { try $0.readNil() }
        expectError("c0", .typeMismatch, at: 0) { _ = try $0.readBool() }
        expectError("a161", .typeMismatch, at: 0) { _ = try $0.readBinary() }
        expectError("c40161", .typeMismatch, at: 0) { _ = try $0.readString() }
        expectError("80", .typeMismatch, at: 0) { _ = try $0.readArrayHeader() }
        expectError("90", .typeMismatch, at: 0) { _ = try $0.readMapHeader() }
        expectError("01", .typeMismatch, at: 0) { _ = try $0.readDouble() }
        expectError("cb3ff8000000000000", .typeMismatch, at: 0) { _ = try $0.readInt() }
        expectError("9201a161", .typeMismatch, at: 2, cursor: 2) { _ = try $0.readArrayHeader(); _ = try $0.readUInt(); _ = try $0.readUInt() }
    }

    @Test func anIntegerOutsideTheTypeIsAnOverflow() {
        expectError("cd0100", .integerOverflow, at: 0, cursor: 0) { _ = try $0.readInteger(UInt8.self) }
        expectError("ff", .integerOverflow, at: 0) { _ = try $0.readUInt() }
        expectError("d0ff", .integerOverflow, at: 0) { _ = try $0.readInteger(UInt16.self) }
        expectError("cfffffffffffffffff", .integerOverflow, at: 0) { _ = try $0.readInt() }
        expectError("d180", .truncated, at: 1) { _ = try $0.readInteger(Int8.self) }
        expectError("d1ff7f", .integerOverflow, at: 0) { _ = try $0.readInteger(Int8.self) }
    }

    @Test func aCountOrLengthBeyondTheBytesIsRefused() {
        expectError("9301", .lengthExceedsInput, at: 0, cursor: 0) { _ = try $0.readArrayHeader() }
        expectError("8101", .lengthExceedsInput, at: 0) { _ = try $0.readMapHeader() }
        expectError("dc000501", .lengthExceedsInput, at: 0) { _ = try $0.readArrayHeader() }
        expectError("dfffffffff", .lengthExceedsInput, at: 0) { _ = try $0.readMapHeader() }
        expectError("c40501", .lengthExceedsInput, at: 0) { _ = try $0.readBinary() }
        expectError("c6ffffffff00", .lengthExceedsInput, at: 0) { _ = try $0.readBinary() }
        expectError("d90561", .lengthExceedsInput, at: 0) { _ = try $0.readStringBytes() }
        expectError("910192a1", .lengthExceedsInput, at: 2) { _ = try $0.readArrayHeader(); _ = try $0.readUInt(); _ = try $0.readArrayHeader() }
    }

    @Test func nestingBeyond32IsRefusedWhereItGoesTooDeep() throws {
        let deep = String(repeating: "91", count: 33) + "00"
        expectError(deep, .depthExceeded, at: 32, cursor: 0) { try $0.skipValue() }
        expectError(deep, .depthExceeded, at: 32) { _ = try $0.readValue() }
        expectError(deep, .depthExceeded, at: 32) { _ = try $0.readRawValue() }
        let allowed = bytes(String(repeating: "91", count: 32) + "00")
        try allowed.withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw)
            try reader.skipValue()
            #expect(reader.isAtEnd)
        }
        // A smaller limit, given to the reader.
        try bytes("919100").withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw, maxDepth: 1)
            #expect(throws: MessagePackError(.depthExceeded, at: 1, "containers nest deeper than the limit of 1")) { try reader.skipValue() }
        }
    }

    @Test func otherBadBytesAreNamed() {
        expectError("c1", .reservedByte, at: 0) { _ = try $0.peekType() }
        expectError("92c1", .reservedByte, at: 1) { try $0.skipValue() }
        expectError("a2c328", .invalidUTF8, at: 0, cursor: 0) { _ = try $0.readString() }
    }

    @Test func peekTypeNamesEveryFormFamily() throws {
        let table: [(String, MessagePackType)] = [
            ("00", .unsignedInteger), ("cc01", .unsignedInteger), ("ff", .signedInteger), ("d0ff", .signedInteger),
            ("c0", .nil), ("c2", .bool), ("ca3fc00000", .float32), ("cb3ff8000000000000", .float64),
            ("a0", .string), ("d900", .string), ("c400", .binary), ("90", .array), ("dc0000", .array),
            ("80", .map), ("de0000", .map), ("d40100", .extension), ("c70001", .extension),
        ]
        for (input, type) in table {
            try bytes(input).withUnsafeBytes { raw throws in
                let reader = MessagePackReader(raw)
                #expect(try reader.peekType() == type, "\(input)")
            }
        }
    }
}
