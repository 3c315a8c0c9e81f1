import Foundation
import Testing
@testable import MessagePack

/// Bad input gets a typed error that says what and where, never a crash or a huge allocation.
@Suite struct DecodingErrorTests {
    struct Reading: Codable, Equatable { var id: Int; var name: String; var value: Double }
    struct Wrapper: Codable { var readings: [Reading] }

    @Test func truncatedInputNamesTheOffset() throws {
        let full = try encode(Reading(id: 1, name: "t", value: 0.5))
        for cut in 0..<full.count {
            let error = messagePackError { _ = try decode(Reading.self, Array(full[..<cut])) }
            #expect(error != nil, "cut at \(cut)")
            #expect(error?.code == .truncated || error?.code == .lengthExceedsInput, "cut at \(cut): \(String(describing: error))")
        }
        let error = messagePackError { _ = try decode(Reading.self, Array(full.dropLast())) }
        #expect(error?.offset == 19, "the float64 starting at byte 19 is cut")
    }

    @Test func aDeclaredLengthLargerThanTheInputIsRefusedBeforeAllocating() throws {
        // map32 and array32 declaring 4 billion entries, str32/bin32 declaring 4 GB.
        for header in ["dfffffffff", "ddffffffff", "dbffffffff61", "c6ffffffff00"] {
            let error = messagePackError { _ = try MessagePackValue(unpacking: bytes(header)) }
            #expect(error?.code == .lengthExceedsInput, "\(header)")
            let reference = messagePackError { _ = try bytes(header).withUnsafeBytes { try MessagePackValue(referenceUnpacking: $0) } }
            #expect(reference?.code == .lengthExceedsInput, "msgpack-c is never handed \(header)")
        }
    }

    @Test func theReservedByteIsRefused() {
        let error = messagePackError { _ = try MessagePackValue(unpacking: [0x92, 0x01, 0xc1]) }
        #expect(error?.code == .reservedByte)
        #expect(error?.offset == 2)
    }

    @Test func invalidUTF8IsRefusedWhereverItIs() throws {
        let error = messagePackError { _ = try decode(Reading.self, bytes("83a2696401a46e616d65a2c328a576616c7565cb3fe0000000000000")) }
        #expect(error?.code == .invalidUTF8)
        #expect(error?.offset == 10, "the string that starts at byte 10")
        #expect(messagePackError { _ = try MessagePackValue(unpacking: bytes("a1ff")) }?.code == .invalidUTF8)
    }

    @Test func nestingDeeperThanTheLimitIsRefused() throws {
        let deep32 = [UInt8](repeating: 0x91, count: 31) + [0x90]
        #expect(throws: Never.self) { try MessagePackValue(unpacking: deep32) }
        let deep33 = [UInt8](repeating: 0x91, count: 32) + [0x90]
        #expect(messagePackError { _ = try MessagePackValue(unpacking: deep33) }?.code == .depthExceeded)
        #expect(messagePackError { _ = try decode([MessagePackValue].self, deep33) }?.code == .depthExceeded)
        let deeper = [UInt8](repeating: 0x91, count: 100_000) + [0x90]
        #expect(messagePackError { _ = try MessagePackValue(unpacking: deeper) }?.code == .depthExceeded, "no stack overflow")
        #expect(throws: Never.self) { try MessagePackDecoder(options: .init(maxDepth: 40)).decode([MessagePackValue].self, from: deep33) }
    }

    /// Found by the fuzzer (80c0): trailing bytes are reported before the value is decoded, so
    /// an empty map followed by nil is `trailingBytes`, not a missing key.
    @Test func trailingBytesAreFoundBeforeDecoding() {
        #expect(messagePackError { _ = try decode(Reading.self, [0x80, 0xc0]) }?.code == .trailingBytes)
    }

    @Test func trailingBytesAreAnError() {
        let error = messagePackError { _ = try decode(Int.self, [0x01, 0x02]) }
        #expect(error?.code == .trailingBytes)
        #expect(error?.offset == 1)
    }

    @Test func aWrongTypeNamesTheCodingPathAndOffset() throws {
        let bytes = try encode(["readings": [["id": "one", "name": "a", "value": 1.0] as [String: MessagePackValue]]])
        do {
            _ = try decode(Wrapper.self, bytes)
            Issue.record("decoded a string as an Int")
        } catch let DecodingError.typeMismatch(type, context) {
            #expect(ObjectIdentifier(type) == ObjectIdentifier(Int.self))
            #expect(context.codingPath.map(\.stringValue) == ["readings", "Index 0", "id"])
            #expect(context.debugDescription.contains("found string at byte offset"))
        }
    }

    @Test func aMissingKeyIsKeyNotFound() throws {
        do {
            _ = try decode(Reading.self, try encode(["id": 1]))
            Issue.record("decoded a Reading without a name")
        } catch let DecodingError.keyNotFound(key, _) {
            #expect(key.stringValue == "name")
        }
    }

    @Test func nilWhereAValueIsRequiredIsValueNotFound() throws {
        do {
            _ = try decode(Reading.self, bytes("83a26964c0a46e616d65a174a576616c7565cb3fe0000000000000"))
            Issue.record("decoded nil as an Int")
        } catch let DecodingError.valueNotFound(type, context) {
            #expect(ObjectIdentifier(type) == ObjectIdentifier(Int.self))
            #expect(context.codingPath.map(\.stringValue) == ["id"])
        }
    }

    @Test func aShortArrayIsValueNotFound() throws {
        struct Pair: Codable { var a: Int; var b: Int }
        #expect(throws: DecodingError.self) {
            _ = try MessagePackDecoder(options: .init(structsAsArrays: true)).decode(Pair.self, from: [0x91, 0x01])
        }
        #expect(throws: DecodingError.self) { _ = try decode([Int].self, [0x92, 0x01]) }
    }

    @Test func aBadTimestampIsRefused() {
        #expect(messagePackError { _ = try MessagePackValue(unpacking: bytes("d5ff0000")) }?.code == .invalidTimestamp)
        // timestamp96 with 1e9 nanoseconds
        #expect(messagePackError { _ = try MessagePackValue(unpacking: bytes("c70cff3b9aca000000000000000000")) }?.code == .invalidTimestamp)
    }

    @Test func everyPrefixOfEveryKindFailsCleanly() throws {
        struct All: Codable { var a: [Int8?]; var b: [String: Data]; var c: Date; var d: Float; var e: MessagePackValue }
        let all = All(a: [1, nil, -3], b: ["k": Data([1, 2])], c: Date(timeIntervalSince1970: 3.25), d: 2, e: ["x": [1, "y"]])
        let full = try encode(all)
        for cut in 0..<full.count {
            #expect(throws: DecodingError.self) { _ = try decode(All.self, Array(full[..<cut])) }
        }
        #expect(throws: Never.self) { _ = try decode(All.self, full) }
    }

    @Test func anEscapedDecoderReadsNothingAfterItsCall() throws {
        final class Thief: Decodable, @unchecked Sendable {
            nonisolated(unsafe) static var stolen: (any Decoder)?
            init(from decoder: any Decoder) throws { Thief.stolen = decoder }
        }
        _ = try decode(Thief.self, [0x05])
        #expect(throws: DecodingError.self) { _ = try Thief.stolen!.singleValueContainer().decode(Int.self) }
        Thief.stolen = nil
    }
}
