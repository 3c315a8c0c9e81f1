import Foundation
import Testing
import MessagePack
import Multiprocessing

/// Envelopes, handshake and error payloads against Protocols/vectors/envelopes.json and
/// invalid-bodies.json: split, decode, rebuild byte for byte, frame.
@Suite struct EnvelopeTests {
    typealias V = EnvelopeVectors

    @Test func vectorFilesLoad() throws {
        #expect(try V.load("envelopes", as: V.EnvelopeVector.self).count == V.envelopes.count)
        #expect(try V.load("invalid-bodies", as: V.InvalidBodyVector.self).count == V.invalidBodies.count)
        #expect(!V.envelopes.isEmpty && !V.invalidBodies.isEmpty)
        #expect(Set(V.envelopes.map(\.name)) == Set(V.payloads.keys), "every envelope vector needs a payload fixture, and no more")
        let covered = Set(V.envelopes.compactMap(\.envelope.kind))
        for kind in Envelope.Kind.version1 {
            #expect(covered.contains(kind.description), "no envelope vector of kind \(kind)")
        }
    }

    @Test(arguments: V.envelopes)
    func splitReadsTheEnvelopeAndLeavesThePayload(_ vector: V.EnvelopeVector) throws {
        let body = vector.bodyBytes
        let (envelope, payload) = try body.withUnsafeBytes { raw in
            let (envelope, payload) = try Envelope.split(raw)
            return (envelope, Array(payload))
        }
        #expect(envelope == vector.envelope.value)
        #expect(envelope.kind.name == vector.envelope.kind)
        // The fast path and the Codable path agree on the envelope and where it ends.
        let (decoded, length) = try body.withUnsafeBytes { try MessagePackDecoder().decodePrefix(Envelope.self, from: $0) }
        #expect(decoded == envelope)
        #expect(Array(body[length...]) == payload)
        #expect(try MessagePackValue(unpacking: payload) == vector.payload)
        #expect(try FrameBody(parsing: body) == FrameBody(envelope, payload: payload))
    }

    /// Every width of unsigned integer in every field: the fast envelope reader and the
    /// decoder agree on the envelope and on where it ends.
    @Test(arguments: [UInt64(0), 127, 128, 255, 256, 65_535, 65_536, 4_294_967_295, 4_294_967_296, .max])
    func envelopeFieldsOfEveryWidthSplit(_ value: UInt64) throws {
        let envelopes = [
            Envelope(Envelope.Kind(rawValue: value), flags: .init(rawValue: 0), from: 1, to: 2, correlation: 3),
            Envelope(.request, flags: .init(rawValue: value), from: value, to: value, correlation: value),
            Envelope(.reply, from: 0, to: value, correlation: value),
        ]
        for envelope in envelopes {
            let body = try FrameBody(envelope, encoding: "payload").encoded()
            let (split, payload) = try body.withUnsafeBytes { raw in
                let (envelope, payload) = try Envelope.split(raw)
                return (envelope, Array(payload))
            }
            let (decoded, length) = try body.withUnsafeBytes { try MessagePackDecoder().decodePrefix(Envelope.self, from: $0) }
            #expect(split == envelope)
            #expect(decoded == envelope)
            #expect(Array(body[length...]) == payload)
            // Without a payload, both paths refuse the body.
            #expect(throws: FrameBodyError.self) { try Array(body[..<length]).withUnsafeBytes { _ = try Envelope.split($0) } }
        }
    }

    @Test(arguments: V.envelopes)
    func payloadDecodesToItsFixture(_ vector: V.EnvelopeVector) throws {
        let fixture = try #require(V.payloads[vector.name])
        #expect(fixture.typeName == vector.payloadType)
        #expect(try fixture.decodesEqual(try FrameBody(parsing: vector.bodyBytes)))
    }

    @Test(arguments: V.envelopes.filter { $0.direction == "both" })
    func fixtureEncodesToTheExactBodyAndFrame(_ vector: V.EnvelopeVector) throws {
        let fixture = try #require(V.payloads[vector.name])
        let envelope = vector.envelope.value
        #expect(V.hex(try fixture.body(envelope).encoded()) == vector.body)
        #expect(V.hex(try fixture.frame(envelope)) == vector.frame)

        var writer = FrameWriter()
        let body = try fixture.body(envelope)
        try writer.append(body)
        try body.payload.withUnsafeBytes { try writer.append(envelope, rawPayload: $0) }
        #expect(V.hex(writer.take()) == vector.frame + vector.frame)
    }

    @Test(arguments: V.envelopes)
    func frameReaderYieldsTheBody(_ vector: V.EnvelopeVector) throws {
        var reader = FrameReader()
        reader.append(V.bytes(vector.frame))
        #expect(try reader.nextFrame().map(V.hex) == vector.body)
        #expect(try reader.nextFrame() == nil)
        try reader.finish()
    }

    @Test(arguments: V.invalidBodies)
    func invalidBodyIsRejected(_ vector: V.InvalidBodyVector) throws {
        let body = V.bytes(vector.body)
        if vector.stage == "split" {
            do {
                _ = try FrameBody(parsing: body)
                Issue.record("split accepted \(vector.body)")
            } catch {
                #expect(error.code.name == vector.error, "\(error)")
                if let underlying = vector.underlying { #expect(error.underlyingError?.code.name == underlying, "\(error)") }
                #expect(RemoteError.malformedBody(error).isProtocolError)
            }
        } else {
            let split = try FrameBody(parsing: body)
            do {
                _ = try split.decodePayload(MessagePackValue.self)
                Issue.record("payload \(V.hex(split.payload)) decoded")
            } catch let DecodingError.dataCorrupted(context) {
                #expect((context.underlyingError as? MessagePackError)?.code.name == vector.error)
            }
        }
    }

    // MARK: handshake and errors

    @Test func welcomeAnswersHelloWithTheAgreedVersionAndCapabilities() throws {
        let hello = Hello(pid: 4242, entry: "square")
        #expect(try Welcome(answering: hello, id: 3) == Welcome(version: 1, id: 3, capabilities: [], maxFrameSize: 64 << 20))

        let later = Hello(version: 3, pid: 7, entry: "tally", capabilities: ["example.feature", "example.other"])
        let welcome = try Welcome(answering: later, id: 9, capabilities: ["example.other", "example.third"], maxFrameSize: 1024)
        #expect(welcome == Welcome(version: WireProtocol.version, id: 9, capabilities: ["example.other"], maxFrameSize: 1024))

        #expect(throws: RemoteError.unsupportedVersion(0)) { try Welcome(answering: Hello(version: 0, pid: 1, entry: ""), id: 1) }
    }

    @Test func remoteErrorNamesTheThrownType() throws {
        struct InputError: Error, CustomStringConvertible { var description: String { "input 7 is out of range" } }
        let error = RemoteError(InputError())
        #expect(error.typeName.hasSuffix("InputError"))
        #expect(error.typeName.hasPrefix("MultiprocessingTests."))
        #expect(error.message == "input 7 is out of range")
        #expect(!error.isProtocolError)
        #expect(RemoteError(error) == error, "a RemoteError passes through unchanged")
        #expect(RemoteError.unknownKind(Envelope.Kind(rawValue: 99)).isProtocolError)
    }

    @Test func answerSwapsAddressesAndKeepsTheCorrelation() {
        let request = Envelope(.request, flags: Envelope.Flags(rawValue: 2), from: 3, to: 5, correlation: 11)
        #expect(request.answer(.reply) == Envelope(.reply, from: 5, to: 3, correlation: 11))
        #expect(Envelope.Kind.version1.map(\.description) == ["hello", "welcome", "message", "request", "reply", "error", "goodbye", "monitor", "down"])
        #expect(Envelope.Kind.version1.map(\.rawValue) == Array(1...9))
        #expect(Envelope.Kind(rawValue: 99).description == "kind(99)")
    }

    @Test func aStatusNeedsOneKnownKey() throws {
        let empty: MessagePackValue = ["id": 5, "status": [:]]
        #expect(throws: DecodingError.self) { try empty.decode(Down.self) }
        let other: MessagePackValue = ["id": 5, "status": ["stopped": 19]]
        #expect(throws: DecodingError.self) { try other.decode(Down.self) }
        let signaled: MessagePackValue = ["id": 5, "status": ["signaled": 15]]
        #expect(try signaled.decode(Down.self) == Down(id: 5, status: .signaled(.terminate)))
    }

    @Test func bodyErrorsNameWhatAndWhere() {
        do {
            _ = try FrameBody(parsing: [0x95, 3, 0, 3, 5, 0])
            Issue.record("a body without payload was accepted")
        } catch {
            #expect(error.code == .missingPayload)
            #expect(error.offset == 6)
        }
        do {
            _ = try FrameBody(parsing: [0x95, 3, 0, 0xff, 5, 0, 0xc0])
            Issue.record("a negative source was accepted")
        } catch {
            #expect(error.code == .malformedEnvelope)
            #expect(error.message.contains("element 2 (source)"), "\(error)")
        }
    }
}

// MARK: - vectors

enum EnvelopeVectors {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocols/vectors")

    struct File<Vector: Decodable>: Decodable { var protocolVersion: Int; var vectors: [Vector] }

    static func load<Vector: Decodable>(_ name: String, as type: Vector.Type) throws -> [Vector] {
        let data = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
        return try JSONDecoder().decode(File<Vector>.self, from: data).vectors
    }

    static let envelopes = (try? load("envelopes", as: EnvelopeVector.self)) ?? []
    static let invalidBodies = (try? load("invalid-bodies", as: InvalidBodyVector.self)) ?? []

    struct EnvelopeFields: Decodable, Sendable {
        var kind: String?
        var kindCode: UInt64
        var flags: UInt64
        var source: UInt64
        var destination: UInt64
        var correlation: UInt64
        var value: Envelope {
            Envelope(Envelope.Kind(rawValue: kindCode), flags: Envelope.Flags(rawValue: flags), from: source, to: destination, correlation: correlation)
        }
    }

    struct EnvelopeVector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var envelope: EnvelopeFields
        var payloadType: String
        var payload: MessagePackValue
        var body: String
        var frame: String
        var direction: String
        var bodyBytes: [UInt8] { EnvelopeVectors.bytes(body) }
        var testDescription: String { name }

        enum CodingKeys: String, CodingKey { case name, envelope, payloadType, payload, body, frame, direction }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            envelope = try c.decode(EnvelopeFields.self, forKey: .envelope)
            payloadType = try c.decode(String.self, forKey: .payloadType)
            payload = try c.decode(Described.self, forKey: .payload).value
            body = try c.decode(String.self, forKey: .body)
            frame = try c.decode(String.self, forKey: .frame)
            direction = try c.decode(String.self, forKey: .direction)
        }
    }

    struct InvalidBodyVector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var stage: String
        var error: String
        var underlying: String?
        var testDescription: String { name }
    }

    /// A value in the vectors' tagged JSON form (PROTOCOL.md, "Test vectors").
    struct Described: Decodable {
        var value: MessagePackValue
        enum Tag: String, CodingKey { case `nil`, bool, int, uint, float32, float64, str, bin, array, map, ext, timestamp }
        struct Ext: Decodable { var type: Int8; var data: String }
        struct Timestamp: Decodable { var seconds: Int64; var nanoseconds: UInt32 }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Tag.self)
            guard c.allKeys.count == 1, let tag = c.allKeys.first else {
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
            case .bin: value = .binary(Data(EnvelopeVectors.bytes(try c.decode(String.self, forKey: tag))))
            case .array: value = .array(try c.decode([Described].self, forKey: tag).map(\.value))
            case .map: value = .map(try c.decode([[Described]].self, forKey: tag).map { (key: $0[0].value, value: $0[1].value) })
            case .ext:
                let ext = try c.decode(Ext.self, forKey: tag)
                value = .extension(type: ext.type, data: Data(EnvelopeVectors.bytes(ext.data)))
            case .timestamp:
                let t = try c.decode(Timestamp.self, forKey: tag)
                value = .timestamp(seconds: t.seconds, nanoseconds: t.nanoseconds)
            }
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)! }
    }

    // MARK: payload fixtures, keyed by vector name

    struct Reading: Codable, Equatable, Sendable { var id: Int; var name: String; var value: Double }

    struct PayloadFixture: Sendable {
        var typeName: String
        var body: @Sendable (Envelope) throws -> FrameBody
        var frame: @Sendable (Envelope) throws -> [UInt8]
        var decodesEqual: @Sendable (FrameBody) throws -> Bool

        init<T: Codable & Equatable & Sendable>(_ typeName: String, _ value: T) {
            self.typeName = typeName
            body = { try FrameBody($0, encoding: value) }
            frame = { envelope in
                var writer = FrameWriter()
                try writer.append(envelope, payload: value)
                return writer.take()
            }
            decodesEqual = { try $0.decodePayload(T.self) == value }
        }
    }

    static let payloads: [String: PayloadFixture] = [
        "hello": PayloadFixture("Hello", Hello(version: 1, pid: 4242, entry: "square", capabilities: [])),
        "hello-capabilities": PayloadFixture("Hello", Hello(pid: 31000, entry: "", capabilities: ["example.feature", "example.other"])),
        "hello-future-version": PayloadFixture("Hello", Hello(version: 3, pid: 7, entry: "tally", capabilities: ["example.feature"])),
        "welcome": PayloadFixture("Welcome", Welcome(version: 1, id: 3, capabilities: [], maxFrameSize: 64 << 20)),
        "request-argument": PayloadFixture("Int", 7),
        "reply-result": PayloadFixture("Int", 49),
        "message-reading": PayloadFixture("Reading", Reading(id: 1, name: "t", value: 0.5)),
        "error-thrown": PayloadFixture("RemoteError", RemoteError(typeName: "Square.InputError", message: "input 7 is out of range")),
        "error-unknown-kind": PayloadFixture("RemoteError", RemoteError.unknownKind(Envelope.Kind(rawValue: 99))),
        "goodbye": PayloadFixture("Goodbye", Goodbye(status: 0)),
        "monitor-request": PayloadFixture("Monitor", Monitor(id: 5)),
        "monitor-reply": PayloadFixture("MessagePackValue", MessagePackValue.nil),
        "flow-pause": PayloadFixture("MessagePackValue", MessagePackValue.nil),
        "flow-resume": PayloadFixture("MessagePackValue", MessagePackValue.nil),
        "down-exited": PayloadFixture("Down", Down(id: 5, status: .exited(3))),
        "down-signaled": PayloadFixture("Down", Down(id: 5, status: .signaled(.kill))),
        "down-unknown": PayloadFixture("Down", Down(id: 12, status: .unknown)),
        "down-disconnected": PayloadFixture("Down", Down(id: 5, status: .disconnected)),
        "large-ids": PayloadFixture("String", "x"),
        "unknown-kind": PayloadFixture("Int", 1),
        "trailing-envelope-elements": PayloadFixture("Int", 1),
        "unknown-flags": PayloadFixture("Int", 1),
        "non-canonical-integers": PayloadFixture("Int", 7),
    ]
}
