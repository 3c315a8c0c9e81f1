import Foundation
import Testing
@testable import MessagePack

@Suite struct MessagePackValueTests {
    @Test func literalsBuildEveryKind() {
        let value: MessagePackValue = ["n": nil, "b": true, "i": -1, "u": 7, "d": 1.5, "s": "x", "a": [1, 2]]
        #expect(value["i"] == .int(-1))
        #expect(value["u"] == .uint(7))
        #expect(value["a"]?[1] == 2)
        #expect(value["missing"] == nil)
        #expect(value["n"]?.isNil == true)
    }

    @Test func integersCompareByValueAcrossSignedness() {
        #expect(MessagePackValue.int(5) == .uint(5))
        #expect(MessagePackValue.int(-5) != .uint(5))
        #expect(Set<MessagePackValue>([.int(5), .uint(5)]).count == 1)
    }

    @Test func mapsCompareInWireOrder() {
        let ab: MessagePackValue = ["a": 1, "b": 2]
        let ba: MessagePackValue = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(ab["b"] == ba["b"])
    }

    @Test func packedAndUnpackedAgreeForEveryKind() throws {
        let values: [MessagePackValue] = [
            nil, true, false, .int(-129), .uint(UInt64.max), .float(1.25), .double(-0.0), "ñ", .binary(Data([0, 255])),
            [], [:], [[1: "a"]: [nil]], .extension(type: 42, data: Data([1, 2, 3, 4, 5])),
            .timestamp(seconds: 1, nanoseconds: 0), .timestamp(seconds: 1_000, nanoseconds: 999_999_999),
            .timestamp(seconds: -5, nanoseconds: 1), .timestamp(seconds: 1 << 40, nanoseconds: 0),
        ]
        for value in values {
            let bytes = value.packed()
            #expect(try MessagePackValue(unpacking: bytes) == value, "\(value)")
            #expect(try bytes.withUnsafeBytes { try MessagePackValue(referenceUnpacking: $0) } == value, "msgpack-c agrees on \(value)")
            #expect(try bytes.withUnsafeBytes { try MessagePackValue.length(ofFirstValueIn: $0) } == bytes.count)
        }
    }

    @Test func descriptionReadsLikePython() {
        let value: MessagePackValue = ["id": 7, "tags": ["a", "b"], "raw": .binary(Data([1, 0xab])), "none": nil]
        #expect(value.description == #"{"id": 7, "tags": ["a", "b"], "raw": b"\x01\xab", "none": nil}"#)
    }

    @Test func codableBridgingBothWays() throws {
        struct Reading: Codable, Equatable { var id: Int; var name: String; var value: Double }
        let value = try MessagePackValue(encoding: Reading(id: 1, name: "x", value: 2))
        #expect(value == ["id": 1, "name": "x", "value": 2.0])
        #expect(try value.decode(Reading.self) == Reading(id: 1, name: "x", value: 2))
        // A MessagePackValue field holds whatever the peer sent, untouched.
        struct Envelope: Codable, Equatable { var kind: String; var payload: MessagePackValue }
        let envelope = Envelope(kind: "k", payload: [1, ["deep": .binary(Data([9]))]])
        #expect(try roundTrip(envelope) == envelope)
        #expect(try roundTrip([String: MessagePackValue]()) == [:])
    }

    @Test func itEncodesThroughOtherCodersToo() throws {
        let value: MessagePackValue = ["a": [1, "two", nil, true]]
        let json = try JSONEncoder().encode(value)
        #expect(String(decoding: json, as: UTF8.self) == #"{"a":[1,"two",null,true]}"#)
        let back = try JSONDecoder().decode(MessagePackValue.self, from: json)
        #expect(back == value)
    }
}
