import Foundation
import Testing
import MessagePack

/// Every vector of Protocols/vectors/ (PROTOCOL.md, "Test vectors") through the Swift codec:
/// valid bytes to the described value with both readers and back with msgpack-c's packer,
/// Codable fixtures to their exact bytes and back, invalid inputs to their error codes, frame
/// streams fed one byte at a time.
@Suite struct ProtocolVectorTests {
    typealias V = ProtocolVectors

    @Test func vectorFilesLoadAndNamesAreUnique() throws {
        for file in ["values", "invalid", "frames", "codable"] {
            let names = try V.names(in: file)
            #expect(!names.isEmpty, "\(file).json has no vectors")
            #expect(Set(names).count == names.count, "\(file).json repeats a name")
        }
        #expect(V.values.count == (try V.names(in: "values")).count)
        #expect(V.codable.count == (try V.names(in: "codable")).count)
    }

    // MARK: values

    @Test(arguments: V.values)
    func swiftReaderReadsTheDescribedValue(_ vector: V.ValueVector) throws {
        let value = try MessagePackValue(unpacking: vector.bytes)
        #expect(V.identical(value, vector.value), "read \(value), described \(vector.value)")
        let length = try vector.bytes.withUnsafeBytes { try MessagePackValue.length(ofFirstValueIn: $0) }
        #expect(length == vector.bytes.count)
        let decoded = try MessagePackDecoder().decode(MessagePackValue.self, from: vector.bytes)
        #expect(V.identical(decoded, vector.value), "decoded \(decoded)")
    }

    @Test(arguments: V.values)
    func referenceReaderReadsTheDescribedValue(_ vector: V.ValueVector) throws {
        let value = try vector.bytes.withUnsafeBytes { try MessagePackValue(referenceUnpacking: $0) }
        // msgpack-c reports a non-negative value in a signed format as a positive integer.
        #expect(V.identical(value, vector.value, signedness: false), "msgpack-c read \(value), described \(vector.value)")
    }

    @Test(arguments: V.values)
    func packerWritesCanonicalBytes(_ vector: V.ValueVector) {
        let packed = vector.value.packed()
        if vector.swiftCanonical {
            #expect(V.hex(packed) == vector.hex)
        } else {
            #expect(V.hex(packed) != vector.hex, "msgpack-c writes these bytes: mark the vector swiftCanonical")
        }
    }

    // MARK: invalid values

    @Test(arguments: V.invalid)
    func invalidInputIsRejectedWithItsCode(_ vector: V.InvalidVector) {
        #expect(V.code { _ = try MessagePackValue(unpacking: vector.bytes) } == vector.error, "Swift reader")
        #expect(V.code { _ = try vector.bytes.withUnsafeBytes { try MessagePackValue(referenceUnpacking: $0) } } == vector.error, "reference reader")
        #expect(V.code { _ = try MessagePackDecoder().decode(MessagePackValue.self, from: vector.bytes) } == vector.error, "decoder")
    }

    // MARK: frames

    @Test(arguments: V.frames)
    func frameStreamOneByteAtATime(_ vector: V.FrameVector) {
        var reader = FrameReader(maxFrameSize: vector.maxFrameSize ?? MessagePackLimits.defaultMaxFrameSize)
        var frames: [String] = []
        var failure: (code: String?, at: String)? = nil
        do {
            for byte in vector.stream {
                reader.append([byte])
                while let frame = try reader.nextFrame() { frames.append(V.hex(frame)) }
            }
        } catch {
            failure = (V.code(of: error), "next")
        }
        if failure == nil {
            do { try reader.finish() } catch { failure = (V.code(of: error), "finish") }
        }
        #expect(frames == vector.frames)
        #expect(failure?.code == vector.error)
        #expect(failure?.at == vector.errorAt)
    }

    @Test(arguments: V.frames)
    func frameStreamInOneChunk(_ vector: V.FrameVector) {
        var reader = FrameReader(maxFrameSize: vector.maxFrameSize ?? MessagePackLimits.defaultMaxFrameSize)
        reader.append(vector.stream)
        var frames: [String] = []
        var code: String? = nil
        do {
            while let frame = try reader.nextFrame() { frames.append(V.hex(frame)) }
            try reader.finish()
        } catch {
            code = V.code(of: error)
        }
        #expect(frames == vector.frames)
        #expect(code == vector.error)
    }

    // MARK: Codable

    @Test func everyCodableVectorHasAFixtureAndEveryFixtureAVector() {
        let vectorNames = Set(V.codable.map(\.name))
        let fixtureNames = Set(V.fixtures.keys)
        #expect(vectorNames.subtracting(fixtureNames).isEmpty, "vectors without a fixture")
        #expect(fixtureNames.subtracting(vectorNames).isEmpty, "fixtures without a vector")
    }

    @Test(arguments: V.codable)
    func codableFixtureMatchesTheBytes(_ vector: V.CodableVector) throws {
        let fixture = try #require(V.fixtures[vector.name], "no fixture named \(vector.name)")
        #expect(fixture.swiftType == vector.swiftType)
        let options = vector.options ?? V.Options()
        let encoder = MessagePackEncoder(options: .init(structsAsArrays: options.structsAsArrays))
        let decoder = MessagePackDecoder(options: .init(structsAsArrays: options.structsAsArrays))
        // The described value is what the bytes hold.
        #expect(V.identical(try MessagePackValue(unpacking: vector.bytes), vector.value))
        // Decoding gives the fixture.
        #expect(try fixture.decodesEqual(decoder, vector.bytes), "the bytes do not decode to \(vector.swift)")
        guard vector.direction == "both" else { return }
        let encoded = try fixture.encode(encoder)
        if vector.entryOrder == "any" {
            #expect(V.sameEntriesAnyOrder(try MessagePackValue(unpacking: encoded), vector.value), "encoded \(V.hex(encoded))")
        } else {
            #expect(V.hex(encoded) == vector.hex)
        }
        #expect(try fixture.decodesEqual(decoder, encoded), "round trip")
    }
}

// MARK: - vector files

/// The vector files' models, loaders and comparison helpers (namespaced: the test target's
/// other files have their own helpers).
enum ProtocolVectors {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocols/vectors")

    struct File<Vector: Decodable>: Decodable {
        var protocolVersion: Int
        var vectors: [Vector]
    }

    static func load<Vector: Decodable>(_ name: String, as type: Vector.Type) throws -> [Vector] {
        let data = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
        let file = try JSONDecoder().decode(File<Vector>.self, from: data)
        guard file.protocolVersion == 1 else { throw CocoaError(.fileReadCorruptFile) }
        return file.vectors
    }

    struct Named: Decodable { var name: String }
    static func names(in file: String) throws -> [String] { try load(file, as: Named.self).map(\.name) }

    // Loaded once for the parameterized tests; vectorFilesLoadAndNamesAreUnique reports a failure to load.
    static let values = (try? load("values", as: ValueVector.self)) ?? []
    static let invalid = (try? load("invalid", as: InvalidVector.self)) ?? []
    static let frames = (try? load("frames", as: FrameVector.self)) ?? []
    static let codable = (try? load("codable", as: CodableVector.self)) ?? []

    struct ValueVector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var hex: String
        var value: MessagePackValue
        var canonical: Bool
        var swiftCanonical: Bool
        var bytes: [UInt8] { ProtocolVectors.bytes(hex) }
        var testDescription: String { name }

        enum CodingKeys: String, CodingKey { case name, hex, value, canonical, swiftCanonical }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            hex = try c.decode(String.self, forKey: .hex)
            value = try c.decode(Described.self, forKey: .value).value
            canonical = try c.decode(Bool.self, forKey: .canonical)
            swiftCanonical = try c.decode(Bool.self, forKey: .swiftCanonical)
        }
    }

    struct InvalidVector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var hex: String
        var error: String
        var pythonRejects: Bool
        var bytes: [UInt8] { ProtocolVectors.bytes(hex) }
        var testDescription: String { name }
    }

    struct FrameVector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var streamHex: String
        var maxFrameSize: Int?
        var frames: [String]
        var error: String?
        var errorAt: String?
        var stream: [UInt8] { ProtocolVectors.bytes(streamHex) }
        var testDescription: String { name }
        enum CodingKeys: String, CodingKey { case name, streamHex = "stream", maxFrameSize, frames, error, errorAt }
    }

    struct Options: Decodable, Sendable { var structsAsArrays = false }

    struct CodableVector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var swiftType: String
        var swift: String
        var options: Options?
        var direction: String
        var entryOrder: String?
        var hex: String
        var value: MessagePackValue
        var canonical: Bool
        var bytes: [UInt8] { ProtocolVectors.bytes(hex) }
        var testDescription: String { name }

        enum CodingKeys: String, CodingKey { case name, swiftType, swift, options, direction, entryOrder, hex, value, canonical }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            swiftType = try c.decode(String.self, forKey: .swiftType)
            swift = try c.decode(String.self, forKey: .swift)
            options = try c.decodeIfPresent(Options.self, forKey: .options)
            direction = try c.decode(String.self, forKey: .direction)
            entryOrder = try c.decodeIfPresent(String.self, forKey: .entryOrder)
            hex = try c.decode(String.self, forKey: .hex)
            value = try c.decode(Described.self, forKey: .value).value
            canonical = try c.decode(Bool.self, forKey: .canonical)
        }
    }

    /// A value in the vectors' tagged JSON form (PROTOCOL.md, "Test vectors").
    struct Described: Decodable {
        var value: MessagePackValue

        enum Tag: String, CodingKey { case `nil`, bool, int, uint, float32, float64, str, bin, array, map, ext, timestamp }
        struct Ext: Decodable { var type: Int8; var data: String }
        struct Timestamp: Decodable { var seconds: Int64; var nanoseconds: UInt32 }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Tag.self)
            let tags = c.allKeys
            guard tags.count == 1, let tag = tags.first else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "a described value has exactly one tag"))
            }
            switch tag {
            case .nil: value = .nil
            case .bool: value = .bool(try c.decode(Bool.self, forKey: tag))
            case .int: value = .int(try c.decode(Int64.self, forKey: tag))
            case .uint: value = .uint(try c.decode(UInt64.self, forKey: tag))
            case .float32: value = .float(Float(bitPattern: UInt32(try c.decode(String.self, forKey: tag), radix: 16)!))
            case .float64: value = .double(Double(bitPattern: UInt64(try c.decode(String.self, forKey: tag), radix: 16)!))
            case .str: value = .string(try c.decode(String.self, forKey: tag))
            case .bin: value = .binary(Data(ProtocolVectors.bytes(try c.decode(String.self, forKey: tag))))
            case .array: value = .array(try c.decode([Described].self, forKey: tag).map(\.value))
            case .map:
                value = .map(try c.decode([[Described]].self, forKey: tag).map { (key: $0[0].value, value: $0[1].value) })
            case .ext:
                let ext = try c.decode(Ext.self, forKey: tag)
                value = .extension(type: ext.type, data: Data(ProtocolVectors.bytes(ext.data)))
            case .timestamp:
                let t = try c.decode(Timestamp.self, forKey: tag)
                value = .timestamp(seconds: t.seconds, nanoseconds: t.nanoseconds)
            }
        }
    }

    // MARK: helpers

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)! }
    }

    /// Strict equality: same cases (`.int` vs `.uint` unless `signedness` is false, which lets a
    /// non-negative `.int` match `.uint`), float bit patterns, map entries in order.
    static func identical(_ a: MessagePackValue, _ b: MessagePackValue, signedness: Bool = true) -> Bool {
        switch (a, b) {
        case (.nil, .nil): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.uint(x), .uint(y)): return x == y
        case let (.int(x), .uint(y)), let (.uint(y), .int(x)): return !signedness && x >= 0 && UInt64(x) == y
        case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
        case let (.double(x), .double(y)): return x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): return x == y && Array(x.utf8) == Array(y.utf8)
        case let (.binary(x), .binary(y)): return x == y
        case let (.array(x), .array(y)):
            return x.count == y.count && zip(x, y).allSatisfy { identical($0, $1, signedness: signedness) }
        case let (.map(x), .map(y)):
            return x.count == y.count && zip(x, y).allSatisfy {
                identical($0.key, $1.key, signedness: signedness) && identical($0.value, $1.value, signedness: signedness)
            }
        case let (.extension(t1, d1), .extension(t2, d2)): return t1 == t2 && d1 == d2
        case let (.timestamp(s1, n1), .timestamp(s2, n2)): return s1 == s2 && n1 == n2
        default: return false
        }
    }

    /// Two maps with the same entries, in any order (a Swift Dictionary's encoding).
    static func sameEntriesAnyOrder(_ a: MessagePackValue, _ b: MessagePackValue) -> Bool {
        guard case .map(let x) = a, case .map(let y) = b, x.count == y.count else { return false }
        return x.allSatisfy { entry in y.contains { identical($0.key, entry.key) && identical($0.value, entry.value) } }
    }

    /// The MessagePackError code name an error carries, directly or as a DecodingError's underlying error.
    static func code(of error: any Error) -> String? {
        if let error = error as? MessagePackError { return error.code.name }
        guard let error = error as? DecodingError else { return nil }
        switch error {
        case .dataCorrupted(let c), .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c):
            return (c.underlyingError as? MessagePackError)?.code.name
        @unknown default:
            return nil
        }
    }

    /// The code `body` fails with, or nil when it succeeds or fails without one.
    static func code(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return code(of: error) }
    }
}

// MARK: - Codable fixtures, keyed by vector name (codable.json)

extension ProtocolVectors {
    /// A Swift value to compare with a Codable vector: built inside its closures, so non-Sendable
    /// types (classes) can be fixtures too.
    struct Fixture: Sendable {
        var swiftType: String
        var encode: @Sendable (MessagePackEncoder) throws -> [UInt8]
        var decodesEqual: @Sendable (MessagePackDecoder, [UInt8]) throws -> Bool

        init<T: Codable & SendableMetatype>(_ swiftType: String, _ make: @escaping @Sendable () -> T, equal: @escaping @Sendable (T, T) -> Bool) {
            self.swiftType = swiftType
            self.encode = { try $0.encode(make()) }
            self.decodesEqual = { equal(try $0.decode(T.self, from: $1), make()) }
        }

        init<T: Codable & Equatable & SendableMetatype>(_ swiftType: String, _ make: @escaping @Sendable () -> T) {
            // Spelled out: with a bare `==`, T = Int? would be inferred as Int?? here.
            self.init(swiftType, make, equal: { (a: T, b: T) in a == b })
        }
    }

    struct Reading: Codable, Equatable { var id: Int; var name: String; var value: Double }
    struct Widths: Codable, Equatable {
        var i8: Int8; var i16: Int16; var i32: Int32; var i64: Int64
        var u8: UInt8; var u16: UInt16; var u32: UInt32; var u64: UInt64
        var int: Int; var uint: UInt
    }
    struct Floats: Codable, Equatable { var f: Float; var d: Double }
    struct Note: Codable, Equatable { var title: String; var detail: String? }
    enum Shape: Codable, Equatable { case empty; case circle(radius: Double); case point(Int, Int) }
    enum Color: String, Codable { case red, green }
    enum Priority: Int, Codable { case low = 0, normal = 1, high = 2 }
    struct Customer: Codable, Equatable { var name: String; var vip: Bool }
    struct Line: Codable, Equatable { var sku: String; var quantity: Int }
    struct Order: Codable, Equatable { var id: Int; var customer: Customer; var lines: [Line] }
    struct Event: Codable, Equatable { var name: String; var data: MessagePackValue }

    class Base: Codable {
        var id: Int
        init(id: Int) { self.id = id }
    }

    final class Derived: Base {
        var extra: String
        init(id: Int, extra: String) {
            self.extra = extra
            super.init(id: id)
        }
        enum CodingKeys: String, CodingKey { case extra }
        required init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            extra = try container.decode(String.self, forKey: .extra)
            try super.init(from: container.superDecoder())
        }
        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(extra, forKey: .extra)
            try super.encode(to: container.superEncoder())
        }
    }

    static let uuid = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
    static let order = Order(id: 42, customer: Customer(name: "Ada", vip: true),
                             lines: [Line(sku: "A1", quantity: 2), Line(sku: "B2", quantity: 1)])

    static let fixtures: [String: Fixture] = [
        "reading": Fixture("Reading") { Reading(id: 1, name: "t", value: 0.5) },
        "reading-as-array": Fixture("Reading") { Reading(id: 1, name: "t", value: 0.5) },
        "bool": Fixture("Bool") { true },
        "string": Fixture("String") { "h\u{e9}llo" },
        "int-negative": Fixture("Int") { -200 },
        "codable-int8-min": Fixture("Int8") { Int8.min },
        "codable-uint64-max": Fixture("UInt64") { UInt64.max },
        "widths-extremes": Fixture("Widths") {
            Widths(i8: .min, i16: .min, i32: .min, i64: .min, u8: .max, u16: .max, u32: .max, u64: .max, int: -1, uint: 0)
        },
        "widths-small": Fixture("Widths") {
            Widths(i8: 1, i16: -1, i32: 100, i64: 0, u8: 200, u16: 7, u32: 1, u64: 127, int: 128, uint: 65536)
        },
        "int-from-int8-encoding": Fixture("Int") { 5 },
        "floats": Fixture("Floats") { Floats(f: 1.5, d: 1.5) },
        "float-0.1": Fixture("Float") { Float(0.1) },
        "double-0.1": Fixture("Double") { 0.1 },
        "double-from-int": Fixture("Double") { 2.0 },
        "optional-nil-omitted": Fixture("Note") { Note(title: "x", detail: nil) },
        "optional-present": Fixture("Note") { Note(title: "x", detail: "y") },
        "optional-nil-explicit": Fixture("Note") { Note(title: "x", detail: nil) },
        "optional-top-level-nil": Fixture("Int?") { Int?.none },
        "optional-array": Fixture("[Int?]") { [1, nil, 3] as [Int?] },
        "string-array": Fixture("[String]") { ["a", "b"] },
        "enum-no-associated-value": Fixture("Shape") { Shape.empty },
        "enum-labeled-associated-value": Fixture("Shape") { Shape.circle(radius: 2.0) },
        "enum-unlabeled-associated-values": Fixture("Shape") { Shape.point(1, -2) },
        "enum-string-raw-value": Fixture("Color") { Color.red },
        "enum-int-raw-value": Fixture("Priority") { Priority.high },
        "class-inheritance": Fixture("Derived", { Derived(id: 1, extra: "x") }, equal: { $0.id == $1.id && $0.extra == $1.extra }),
        "dictionary-int-keys": Fixture("[Int: String]") { [1: "one"] },
        "dictionary-string-keys": Fixture("[String: Int]") { ["a": 1, "b": 2] },
        "data": Fixture("Data") { Data([1, 2, 3]) },
        "data-empty": Fixture("Data") { Data() },
        "date-whole-seconds": Fixture("Date") { Date(timeIntervalSince1970: 1_700_000_000) },
        "date-fraction": Fixture("Date") { Date(timeIntervalSince1970: 1.5) },
        "date-before-1970": Fixture("Date") { Date(timeIntervalSince1970: -1.5) },
        "uuid": Fixture("UUID") { uuid },
        "uuid-lowercase": Fixture("UUID") { uuid },
        "uuid-from-bin": Fixture("UUID") { uuid },
        "url": Fixture("URL") { URL(string: "https://example.com/a?b=c")! },
        "decimal": Fixture("Decimal") { Decimal(string: "3.14")! },
        "decimal-negative": Fixture("Decimal") { Decimal(string: "-12.5")! },
        "nested-structs": Fixture("Order") { order },
        "nested-structs-as-arrays": Fixture("Order") { order },
        "untyped-field": Fixture("Event") { Event(name: "tick", data: ["x": 1, "y": [true, nil]]) },
    ]
}
