import Foundation
import Testing
@testable import MessagePack

/// The Swift -> MessagePack type mapping of Protocols/PROTOCOL.md, one case at a time.
@Suite struct CodableMappingTests {
    struct Reading: Codable, Equatable { var id: Int; var name: String; var value: Double }

    @Test func structIsAMapWithStringKeysInDeclarationOrder() throws {
        #expect(hex(try encode(Reading(id: 1, name: "t", value: 0.5)))
                == "83a2696401a46e616d65a174a576616c7565cb3fe0000000000000")
        #expect(try roundTrip(Reading(id: -7, name: "ünïcödé", value: .infinity)) == Reading(id: -7, name: "ünïcödé", value: .infinity))
    }

    @Test func structsAsArraysIsTheCompactForm() throws {
        let options = (MessagePackEncoder.Options(structsAsArrays: true), MessagePackDecoder.Options(structsAsArrays: true))
        let bytes = try encode(Reading(id: 1, name: "t", value: 0.5), options: options.0)
        #expect(hex(bytes) == "9301a174cb3fe0000000000000")
        #expect(try roundTrip(Reading(id: 1, name: "t", value: 0.5), options: options) == Reading(id: 1, name: "t", value: 0.5))
    }

    @Test func structsAsArraysKeepsNilOptionalsInTheirPlace() throws {
        struct AB: Codable, Equatable { var a: Int?; var b: Int? }
        let options = (MessagePackEncoder.Options(structsAsArrays: true), MessagePackDecoder.Options(structsAsArrays: true))
        #expect(hex(try encode(AB(a: nil, b: 5), options: options.0)) == "92c005")
        #expect(try roundTrip(AB(a: nil, b: 5), options: options) == AB(a: nil, b: 5))
        #expect(try roundTrip(AB(a: 4, b: nil), options: options) == AB(a: 4, b: nil))
    }

    @Test func aDateBeyondSigned64BitSecondsIsAnEncodingError() throws {
        #expect(throws: EncodingError.self) { try encode(Date(timeIntervalSince1970: 1e19)) }
        #expect(throws: EncodingError.self) { try encode(Date(timeIntervalSince1970: -1e19)) }
        #expect(try roundTrip(Date(timeIntervalSince1970: 9e18)) == Date(timeIntervalSince1970: 9e18))
    }

    @Test(arguments: [
        (Int64(0), "00"), (127, "7f"), (128, "cc80"), (255, "ccff"), (256, "cd0100"), (65_535, "cdffff"),
        (65_536, "ce00010000"), (4_294_967_295, "ceffffffff"), (4_294_967_296, "cf0000000100000000"),
        (-1, "ff"), (-32, "e0"), (-33, "d0df"), (-128, "d080"), (-129, "d1ff7f"), (-32_768, "d18000"),
        (-32_769, "d2ffff7fff"), (Int64(Int32.min), "d280000000"), (Int64(Int32.min) - 1, "d3ffffffff7fffffff"),
        (Int64.min, "d38000000000000000"), (Int64.max, "cf7fffffffffffffff"),
    ])
    func integersTakeTheSmallestEncoding(value: Int64, expected: String) throws {
        #expect(hex(try encode(value)) == expected)
        #expect(try decode(Int64.self, bytes(expected)) == value)
    }

    @Test func everyIntegerWidthRoundTripsItsExtremes() throws {
        #expect(try roundTrip([Int8.min, Int8.max]) == [Int8.min, Int8.max])
        #expect(try roundTrip([Int16.min, Int16.max]) == [Int16.min, Int16.max])
        #expect(try roundTrip([Int32.min, Int32.max]) == [Int32.min, Int32.max])
        #expect(try roundTrip([Int.min, Int.max]) == [Int.min, Int.max])
        #expect(try roundTrip([UInt8.max, 0]) == [UInt8.max, 0])
        #expect(try roundTrip([UInt16.max]) == [UInt16.max])
        #expect(try roundTrip([UInt32.max]) == [UInt32.max])
        #expect(try roundTrip([UInt64.max, 0]) == [UInt64.max, 0])
        #expect(try roundTrip([UInt.max]) == [UInt.max])
    }

    @Test func anyIntegerEncodingThatFitsDecodes() throws {
        // int8 holding a positive value, uint64 holding a small one: both fit an Int8.
        #expect(try decode(Int8.self, bytes("d005")) == 5)
        #expect(try decode(Int8.self, bytes("cf0000000000000005")) == 5)
        #expect(try decode(UInt8.self, bytes("d300000000000000ff")) == 255)
    }

    @Test func anIntegerThatDoesNotFitIsAnError() throws {
        #expect(throws: DecodingError.self) { try decode(Int8.self, bytes("cc80")) }
        #expect(throws: DecodingError.self) { try decode(UInt8.self, bytes("ff")) }
        #expect(throws: DecodingError.self) { try decode(UInt64.self, bytes("d0ff")) }
        #expect(throws: DecodingError.self) { try decode(Int64.self, bytes("cfffffffffffffffff")) }
        do {
            _ = try decode(Int8.self, bytes("cc80"))
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("128"))
            #expect(context.debugDescription.contains("Int8"))
        }
    }

    @Test func floatIsFloat32AndDoubleIsFloat64() throws {
        #expect(hex(try encode(Float(1.5))) == "ca3fc00000")
        #expect(hex(try encode(1.5)) == "cb3ff8000000000000")
        #expect(try decode(Double.self, bytes("ca3fc00000")) == 1.5)
        #expect(try decode(Float.self, bytes("cb3ff8000000000000")) == 1.5)
        #expect(try decode(Double.self, bytes("07")) == 7, "an integer that a Double holds exactly")
        #expect(try roundTrip(Double.nan).isNaN)
        #expect(throws: DecodingError.self) { try decode(Float.self, bytes("cb7fefffffffffffff")) }   // Double.greatestFiniteMagnitude
    }

    @Test func boolNilAndOptionals() throws {
        #expect(hex(try encode(true)) == "c3")
        #expect(hex(try encode(false)) == "c2")
        #expect(hex(try encode(Int?.none)) == "c0")
        struct Maybe: Codable, Equatable { var a: Int?; var b: String? }
        #expect(try roundTrip(Maybe(a: nil, b: "x")) == Maybe(a: nil, b: "x"))
        // Synthesized Codable leaves nil optionals out: only "b" is on the wire.
        #expect(try MessagePackValue(unpacking: encode(Maybe(a: nil, b: "x"))) == ["b": "x"])
        #expect(try decode(Maybe.self, bytes("81a161c0")) == Maybe(a: nil, b: nil), "an explicit nil reads as nil")
    }

    @Test func stringsUseFixstrStr8Str16() throws {
        #expect(hex(try encode("")) == "a0")
        #expect(try encode(String(repeating: "a", count: 31)).first == 0xbf)
        #expect(try encode(String(repeating: "a", count: 32)).prefix(2) == [0xd9, 32])
        #expect(try encode(String(repeating: "a", count: 256)).prefix(3) == [0xda, 1, 0])
        #expect(try encode(String(repeating: "a", count: 65_536)).prefix(5) == [0xdb, 0, 1, 0, 0])
        let long = String(repeating: "ж", count: 40_000)
        #expect(try roundTrip(long) == long)
    }

    @Test func dataIsBinary() throws {
        #expect(hex(try encode(Data([1, 2, 3]))) == "c403010203")
        #expect(try encode(Data(count: 256)).prefix(3) == [0xc5, 1, 0])
        #expect(try roundTrip(Data(count: 70_000)) == Data(count: 70_000))
        #expect(throws: DecodingError.self) { try decode(Data.self, bytes("a3616263")) }
    }

    @Test func dateIsTheTimestampExtension() throws {
        #expect(hex(try encode(Date(timeIntervalSince1970: 1))) == "d6ff00000001")
        #expect(hex(try encode(Date(timeIntervalSince1970: 1.5))) == "d7ff7735940000000001")
        #expect(hex(try encode(Date(timeIntervalSince1970: -1))) == "c70cff00000000ffffffffffffffff")
        let now = Date(timeIntervalSince1970: 1_764_460_800.25)
        #expect(try roundTrip(now) == now)
        #expect(throws: DecodingError.self) { try decode(Date.self, bytes("d4ff00")) }   // a 1-byte timestamp
    }

    @Test func urlUUIDAndDecimalAreStrings() throws {
        let url = URL(string: "https://example.org/a?b=c")!
        #expect(try MessagePackValue(unpacking: encode(url)) == "https://example.org/a?b=c")
        #expect(try roundTrip(url) == url)
        let uuid = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        #expect(try MessagePackValue(unpacking: encode(uuid)) == "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")
        #expect(try roundTrip(uuid) == uuid)
        #expect(try decode(UUID.self, [0xc4, 16] + withUnsafeBytes(of: uuid.uuid) { Array($0) }) == uuid, "a 16-byte bin decodes too")
        let decimal = Decimal(string: "12345.678901234567890")!
        #expect(try MessagePackValue(unpacking: encode(decimal)) == "12345.67890123456789")
        #expect(try roundTrip(decimal) == decimal)
        #expect(throws: DecodingError.self) { try decode(UUID.self, try encode("not a uuid")) }
    }

    @Test func arraysAndNestedContainers() throws {
        #expect(hex(try encode([1, 2, 3])) == "93010203")
        #expect(try encode(Array(repeating: 0, count: 16)).prefix(3) == [0xdc, 0, 16])
        #expect(try encode(Array(repeating: 0, count: 65_536)).prefix(5) == [0xdd, 0, 1, 0, 0])
        #expect(try roundTrip([[1], [], [2, 3]]) == [[1], [], [2, 3]])
        struct Outer: Codable, Equatable { var inner: [Reading]; var grid: [[Double]] }
        let outer = Outer(inner: [Reading(id: 1, name: "a", value: 1), Reading(id: 2, name: "b", value: 2)], grid: [[1, 2], [3]])
        #expect(try roundTrip(outer) == outer)
    }

    @Test func dictionariesAreMapsKeyedByTheirKeysEncoding() throws {
        #expect(try MessagePackValue(unpacking: encode(["a": 1])) == ["a": 1])
        #expect(try MessagePackValue(unpacking: encode([7: "seven"])) == [7: "seven"], "Int keys are integers on the wire")
        enum Color: String, Codable { case red }
        #expect(try MessagePackValue(unpacking: encode([Color.red: true])) == ["red": true])
        let uuid = UUID()
        #expect(try roundTrip([uuid: [1.5]]) == [uuid: [1.5]])
        var big: [Int: String] = [:]
        for i in -50..<50 { big[i] = "\(i)" }
        #expect(try roundTrip(big) == big)
        #expect(try encode(big).first == 0xde, "more than 15 entries: map16")
    }

    @Test func enumsUseSwiftsSynthesizedLayout() throws {
        enum Shape: Codable, Equatable { case circle(radius: Double), square(Double), empty }
        #expect(try MessagePackValue(unpacking: encode(Shape.circle(radius: 2))) == ["circle": ["radius": 2.0]])
        #expect(try MessagePackValue(unpacking: encode(Shape.square(3))) == ["square": ["_0": 3.0]])
        #expect(try MessagePackValue(unpacking: encode(Shape.empty)) == ["empty": [:]])
        #expect(try roundTrip([Shape.circle(radius: 2), .square(3), .empty]) == [.circle(radius: 2), .square(3), .empty])
        enum Level: Int, Codable { case low = 1, high = 9 }
        #expect(hex(try encode(Level.high)) == "09")
    }

    class Animal: Codable {
        var legs: Int
        init(legs: Int) { self.legs = legs }
    }

    final class Dog: Animal {
        var name: String
        enum CodingKeys: String, CodingKey { case name }
        init(name: String) { self.name = name; super.init(legs: 4) }
        required init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            try super.init(from: c.superDecoder())
        }
        override func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try super.encode(to: c.superEncoder())
        }
    }

    @Test func classInheritanceGoesUnderSuper() throws {
        let bytes = try encode(Dog(name: "Rex"))
        #expect(try MessagePackValue(unpacking: bytes) == ["name": "Rex", "super": ["legs": 4]])
        let dog = try decode(Dog.self, bytes)
        #expect(dog.name == "Rex" && dog.legs == 4)
    }

    @Test func anUnusedSuperEncoderStillWritesAValue() throws {
        struct Lazy: Encodable {
            enum K: CodingKey { case a }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                _ = c.superEncoder()
                try c.encode(1, forKey: .a)
            }
        }
        #expect(try MessagePackValue(unpacking: encode(Lazy())) == ["super": [:], "a": 1])
    }

    @Test func nestedContainersRequestedByHand() throws {
        struct Manual: Codable, Equatable {
            var x: Int; var ys: [String]
            enum K: CodingKey { case meta, ys }
            enum M: CodingKey { case x }
            init(x: Int, ys: [String]) { self.x = x; self.ys = ys }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                var meta = c.nestedContainer(keyedBy: M.self, forKey: .meta)
                try meta.encode(x, forKey: .x)
                var list = c.nestedUnkeyedContainer(forKey: .ys)
                for y in ys { try list.encode(y) }
            }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: K.self)
                x = try c.nestedContainer(keyedBy: M.self, forKey: .meta).decode(Int.self, forKey: .x)
                var list = try c.nestedUnkeyedContainer(forKey: .ys)
                ys = []
                while !list.isAtEnd { ys.append(try list.decode(String.self)) }
            }
        }
        let value = Manual(x: 3, ys: ["a", "b"])
        #expect(try MessagePackValue(unpacking: encode(value)) == ["meta": ["x": 3], "ys": ["a", "b"]])
        #expect(try roundTrip(value) == value)
    }

    @Test func writingToAContainerAfterALaterOneWasUsedIsAnError() throws {
        struct Interleaved: Encodable {
            enum K: CodingKey { case a, b, c }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                var inner = c.nestedUnkeyedContainer(forKey: .a)
                try inner.encode(1)
                try c.encode(2, forKey: .b)
                try inner.encode(3)   // `inner` was closed when `c` moved on
            }
        }
        #expect(throws: EncodingError.self) { try encode(Interleaved()) }
    }

    @Test func aStructWithManyFieldsWidensItsHeader() throws {
        var fields: [String: Int] = [:]
        for i in 0..<20 { fields["f\(i)"] = i }
        struct Wide: Codable, Equatable { var f: [String: Int]; var tail: [Int] }
        let wide = Wide(f: fields, tail: Array(0..<70_000))
        #expect(try roundTrip(wide) == wide)
    }

    @Test func keysMayArriveInAnyOrder() throws {
        // A Python peer may send the fields in another order, with extra keys.
        let value: MessagePackValue = ["value": 2.5, "extra": [1, 2, ["deep": nil]], "name": "n", "id": 9]
        #expect(try value.decode(Reading.self) == Reading(id: 9, name: "n", value: 2.5))
    }

    @Test func userInfoReachesTheTypes() throws {
        struct Probe: Codable {
            static let key = CodingUserInfoKey(rawValue: "probe")!
            var seen: String
            init(seen: String) { self.seen = seen }
            init(from decoder: any Decoder) throws { seen = decoder.userInfo[Self.key] as? String ?? "none" }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.singleValueContainer()
                try c.encode(encoder.userInfo[Self.key] as? String ?? "none")
            }
        }
        var encoder = MessagePackEncoder()
        encoder.userInfo[Probe.key] = "from encoder"
        #expect(try MessagePackValue(unpacking: encoder.encode(Probe(seen: ""))) == "from encoder")
        var decoder = MessagePackDecoder()
        decoder.userInfo[Probe.key] = "from decoder"
        #expect(try decoder.decode(Probe.self, from: [0xc0]).seen == "from decoder")
    }

    @Test func decodePrefixReadsAnEnvelopeAndLeavesThePayload() throws {
        let body = try encode([1, 2]) + encode(Reading(id: 1, name: "x", value: 0))
        let (envelope, used) = try body.withUnsafeBytes { try MessagePackDecoder().decodePrefix([Int].self, from: $0) }
        #expect(envelope == [1, 2] && used == 3)
        #expect(try decode(Reading.self, Array(body[used...])) == Reading(id: 1, name: "x", value: 0))
    }
}

/// The decoder reuses the keyed container of the last struct type; a struct that contains its
/// own type keeps the outer container alive while the inner ones are read.
@Suite struct RecursiveStructTests {
    struct Node: Codable, Equatable { var name: String; var children: [Node] }

    @Test func aTreeOfTheSameTypeDecodes() throws {
        let tree = Node(name: "root", children: [
            Node(name: "a", children: [Node(name: "a1", children: []), Node(name: "a2", children: [])]),
            Node(name: "b", children: []),
        ])
        #expect(try roundTrip(tree) == tree)
        #expect(try roundTrip([tree, tree]) == [tree, tree])
    }

    @Test func aContainerKeptPastItsCallFailsCleanly() throws {
        final class Keeper: Decodable, @unchecked Sendable {
            enum K: CodingKey { case name }
            nonisolated(unsafe) static var kept: KeyedDecodingContainer<K>?
            init(from decoder: any Decoder) throws { Keeper.kept = try decoder.container(keyedBy: K.self) }
        }
        _ = try decode(Keeper.self, try encode(["name": "x"]))
        #expect(throws: DecodingError.self) { _ = try Keeper.kept!.decode(String.self, forKey: .name) }
        _ = try decode(Keeper.self, try encode(["name": "y"]))   // the kept one is not reused under it
        Keeper.kept = nil
    }
}
