import Foundation
import MessagePackMacros
import MessagePackMacrosPlugin
import SwiftSyntaxMacros
import SwiftSyntaxMacrosTestSupport
import Testing
import XCTest
@testable import MessagePack

// @MessagePackCodable types and their plain Codable twins: the macro changes the cost, never
// the bytes or the errors.

@MessagePackCodable
struct DirectReading: Codable, Equatable {
    var id: Int
    var name: String
    var value: Double
}

struct PlainReading: Codable, Equatable {
    var id: Int
    var name: String
    var value: Double
}

@MessagePackCodable
struct DirectEverything: Codable, Equatable {
    var int: Int
    var int64: Int64
    var int32: Int32
    var uint: UInt
    var uint64: UInt64
    var uint32: UInt32
    var double: Double
    var float: Float
    var flag: Bool
    var text: String
    var blob: Data
    var when: Date
    var list: [Int]
    var map: [String: Int]
    var nested: DirectReading
    var plain: PlainReading
    var nestedList: [DirectReading]
    var note: String?
    var count: Optional<Int>
    var `default`: Int
    var computed: Int { int * 2 }
    static let shared = 0
}

struct PlainEverything: Codable, Equatable {
    var int: Int
    var int64: Int64
    var int32: Int32
    var uint: UInt
    var uint64: UInt64
    var uint32: UInt32
    var double: Double
    var float: Float
    var flag: Bool
    var text: String
    var blob: Data
    var when: Date
    var list: [Int]
    var map: [String: Int]
    var nested: DirectReading
    var plain: PlainReading
    var nestedList: [DirectReading]
    var note: String?
    var count: Optional<Int>
    var `default`: Int
}

/// A plain Codable struct holding direct ones: they are written directly inside it.
struct PlainHoldingDirect: Codable, Equatable {
    var readings: [DirectReading]
    var byName: [String: DirectReading]
}

extension DirectEverything {
    static let sample = DirectEverything(
        int: -5, int64: 1 << 40, int32: -70_000, uint: 300, uint64: .max, uint32: 65_536,
        double: 0.1, float: 2.5, flag: true, text: "ünïcödé", blob: Data([0, 1, 2, 0xff]),
        when: Date(timeIntervalSince1970: 1_700_000_000.25), list: [1, -1, 1000], map: ["a": 1],
        nested: DirectReading(id: 1, name: "n", value: 1.5), plain: PlainReading(id: 2, name: "p", value: -0.5),
        nestedList: [DirectReading(id: 3, name: "x", value: 0)], note: nil, count: 7, default: 9)
    var plain_: PlainEverything {
        PlainEverything(int: int, int64: int64, int32: int32, uint: uint, uint64: uint64, uint32: uint32, double: double,
                        float: float, flag: flag, text: text, blob: blob, when: when, list: list, map: map, nested: nested,
                        plain: plain, nestedList: nestedList, note: note, count: count, default: `default`)
    }
}

@Suite struct DirectCodableTests {
    @Test func anAnnotatedStructWritesTheBytesOfItsCodableTwin() throws {
        #expect(hex(try encode(DirectReading(id: 1, name: "t", value: 0.5)))
                == "83a2696401a46e616d65a174a576616c7565cb3fe0000000000000")
        let everything = DirectEverything.sample
        #expect(try encode(everything) == encode(everything.plain_))
        var withNote = everything
        withNote.note = "here"
        withNote.count = nil
        #expect(try encode(withNote) == encode(withNote.plain_))
    }

    @Test func itReadsBackWhatEitherPathWrote() throws {
        let everything = DirectEverything.sample
        #expect(try roundTrip(everything) == everything)
        #expect(try decode(DirectEverything.self, encode(everything.plain_)) == everything)
        #expect(try decode(PlainEverything.self, encode(everything)) == everything.plain_)
    }

    @Test func insideAPlainCodableValueItIsStillWrittenAndReadDirectly() throws {
        let value = PlainHoldingDirect(readings: [DirectReading(id: 1, name: "a", value: 1)],
                                       byName: ["b": DirectReading(id: 2, name: "b", value: 2)])
        #expect(try roundTrip(value) == value)
        #expect(hex(try encode(value)).contains("83a2696401a46e616d65a161"))   // {"id": 1, "name": "a", ...}
    }

    @Test func keysInAnyOrderAndUnknownKeysAreAccepted() throws {
        // {"value": 0.5, "extra": [1, 2], "name": "t", "id": 1}
        let bytes = bytes("84 a5 76616c7565 cb3fe0000000000000 a5 6578747261 92 01 02 a4 6e616d65 a1 74 a2 6964 01")
        #expect(try decode(DirectReading.self, bytes) == DirectReading(id: 1, name: "t", value: 0.5))
    }

    @Test func aMissingFieldIsKeyNotFoundNamingIt() throws {
        let bytes = bytes("82 a2 6964 01 a4 6e616d65 a1 74")   // no "value"
        do {
            _ = try decode(DirectReading.self, bytes)
            Issue.record("decoded a struct without its value")
        } catch DecodingError.keyNotFound(let key, _) {
            #expect(key.stringValue == "value")
        }
    }

    @Test func aWrongTypeIsTypeMismatchWithTheCodingPath() throws {
        var plain = try MessagePackValue(unpacking: encode(DirectEverything.sample))
        guard case .map(var entries) = plain else { Issue.record("not a map"); return }
        let index = entries.firstIndex { $0.key == .string("nested") }!
        entries[index].value = .map([(.string("id"), .string("one")), (.string("name"), .string("n")), (.string("value"), .double(1))])
        plain = .map(entries)
        do {
            _ = try decode(DirectEverything.self, plain.packed())
            Issue.record("decoded a string as an Int")
        } catch DecodingError.typeMismatch(let type, let context) {
            #expect(ObjectIdentifier(type) == ObjectIdentifier(Int.self))
            #expect(context.codingPath.map(\.stringValue) == ["nested", "id"])
            #expect(context.debugDescription.contains("string"))
        }
    }

    @Test func nilForARequiredFieldIsValueNotFound() throws {
        let bytes = bytes("83 a2 6964 c0 a4 6e616d65 a1 74 a5 76616c7565 01")
        #expect(throws: DecodingError.self) { try decode(DirectReading.self, bytes) }
        do { _ = try decode(DirectReading.self, bytes) } catch DecodingError.valueNotFound(let type, let context) {
            #expect(ObjectIdentifier(type) == ObjectIdentifier(Int.self))
            #expect(context.codingPath.map(\.stringValue) == ["id"])
        } catch { Issue.record("\(error)") }
    }

    @Test func notAMapIsTypeMismatchAndANonStringKeyIsCorrupted() throws {
        #expect(throws: DecodingError.self) { try decode(DirectReading.self, bytes("93 01 a174 01")) }
        #expect(throws: DecodingError.self) { try decode(DirectReading.self, bytes("81 01 02")) }
    }

    @Test func truncatedAndTrailingBytesAreErrorsNotCrashes() throws {
        let whole = try encode(DirectEverything.sample)
        for length in stride(from: 0, to: whole.count, by: 3) {
            #expect(throws: DecodingError.self) { try decode(DirectEverything.self, Array(whole[..<length])) }
        }
        #expect(throws: DecodingError.self) { try decode(DirectEverything.self, whole + [0x00]) }
    }

    @Test func structsAsArraysUsesTheCodablePath() throws {
        let options = (MessagePackEncoder.Options(structsAsArrays: true), MessagePackDecoder.Options(structsAsArrays: true))
        #expect(hex(try encode(DirectReading(id: 1, name: "t", value: 0.5), options: options.0)) == "9301a174cb3fe0000000000000")
        #expect(try roundTrip(DirectReading(id: 1, name: "t", value: 0.5), options: options) == DirectReading(id: 1, name: "t", value: 0.5))
    }
}

/// What the macro writes, and what it refuses (XCTest: the macro test support reports through it).
final class MessagePackCodableMacroTests: XCTestCase {
    let macros: [String: any Macro.Type] = ["MessagePackCodable": MessagePackCodableMacro.self]

    func testItWritesBothMembersFromTheStoredProperties() {
        assertMacroExpansion(
            """
            @MessagePackCodable
            public struct Job: Codable {
                public var id: Int
                var note: String?
                let kind = "job"
                var twice: Int { id * 2 }
            }
            """,
            expandedSource: """
            public struct Job: Codable {
                public var id: Int
                var note: String?
                let kind = "job"
                var twice: Int { id * 2 }
            }

            extension Job: MessagePackDirectCodable {
                public func encodeMessagePack(to encoder: inout MessagePackStructEncoder) throws {
                    encoder.beginMap(count: 2 + (self.note == nil ? 0 : 1))
                    try encoder.encode(self.id, forKey: "id")
                    if let value = self.note {
                        try encoder.encode(value, forKey: "note")
                    }
                    try encoder.encode(self.kind, forKey: "kind")
                }
                public init(messagePack decoder: inout MessagePackStructDecoder) throws {
                    var __id: (Int)? = nil
                    var __note: (String)? = nil
                    while let key = try decoder.nextKey() {
                        if key == "id" {
                            __id = try decoder.decode((Int).self)
                        } else if key == "note" {
                            __note = try decoder.decodeIfPresent((String).self)
                        }
                    }
                    self.id = try decoder.required(__id, "id")
                    self.note = __note
                }
            }
            """,
            macros: macros
        )
    }

    func testItRefusesWhatItCannotWriteWithTheReason() {
        assertMacroExpansion(
            """
            @MessagePackCodable
            struct Renamed: Codable {
                var id: Int
                enum CodingKeys: String, CodingKey {
                    case id = "ID"
                }
            }
            """,
            expandedSource: """
            struct Renamed: Codable {
                var id: Int
                enum CodingKeys: String, CodingKey {
                    case id = "ID"
                }
            }
            """,
            diagnostics: [DiagnosticSpec(message: "@MessagePackCodable writes the properties' own names; this struct declares CodingKeys (keep plain Codable for it)", line: 4, column: 5)],
            macros: macros
        )
        assertMacroExpansion(
            """
            @MessagePackCodable
            struct Untyped: Codable {
                var id = 5
            }
            """,
            expandedSource: """
            struct Untyped: Codable {
                var id = 5
            }
            """,
            diagnostics: [DiagnosticSpec(message: "@MessagePackCodable needs the type of 'id' written out (': Int')", line: 3, column: 9)],
            macros: macros
        )
        assertMacroExpansion(
            """
            @MessagePackCodable
            enum Kind: Codable {
                case a
            }
            """,
            expandedSource: """
            enum Kind: Codable {
                case a
            }
            """,
            diagnostics: [DiagnosticSpec(message: "@MessagePackCodable applies to a struct (keep plain Codable for classes and enums)", line: 1, column: 1)],
            macros: macros
        )
    }
}
