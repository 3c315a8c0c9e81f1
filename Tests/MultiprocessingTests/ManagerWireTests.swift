import Foundation
import MessagePack
import NIOEmbedded
import Testing
@testable import Multiprocessing

/// The manager's frames against Protocols/vectors/manager.json (bytes Python's msgpack makes):
/// the client writes every request exactly so, the manager reads each back as what it says,
/// and a fresh manager fed the conversation's requests in order answers each one byte for
/// byte as the vectors do. Then bad input at the wire: every malformed payload and every
/// undefined kind of the range gets a typed `protocolViolation` that names the kind and the
/// shape, and the manager serves on.
@Suite struct ManagerWireTests {
    struct Vector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var kind: String
        var kindCode: UInt8
        var envelope: [UInt64]
        var payload: MessagePackValue
        var answers: String?
        var body: String
        var frame: String
        var testDescription: String { name }

        enum CodingKeys: String, CodingKey { case name, kind, kindCode, envelope, payload, answers, body, frame }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            kind = try c.decode(String.self, forKey: .kind)
            kindCode = try c.decode(UInt8.self, forKey: .kindCode)
            envelope = try c.decode([UInt64].self, forKey: .envelope)
            payload = try c.decode(EnvelopeVectors.Described.self, forKey: .payload).value
            answers = try c.decodeIfPresent(String.self, forKey: .answers)
            body = try c.decode(String.self, forKey: .body)
            frame = try c.decode(String.self, forKey: .frame)
        }

        var source: UInt64 { envelope[2] }
        var destination: UInt64 { envelope[3] }
        var correlation: UInt64 { envelope[4] }
        var elements: [MessagePackValue] {
            if case .array(let elements) = payload { return elements }
            return []
        }
        /// The payload's bytes, cut out of the body.
        var payloadBytes: [UInt8] {
            let body = EnvelopeVectors.bytes(body)
            let count = body.withUnsafeBytes { try! Envelope.split($0).payload.count }
            return Array(body[(body.count - count)...])
        }
        var isAnswer: Bool { kind == "reply" || kind == "error" }
    }

    static let vectors = (try? EnvelopeVectors.load("manager", as: Vector.self)) ?? []
    static let frames = vectors.filter { !$0.isAnswer }
    static let answers = vectors.filter(\.isAnswer)

    @Test func everyManagerKindHasAVectorUnderItsName() {
        #expect(!Self.vectors.isEmpty, "Protocols/vectors/manager.json is missing or does not decode")
        for kind in ManagerWire.create...ManagerWire.transit {
            let named = Self.vectors.filter { $0.kindCode == kind }
            #expect(!named.isEmpty, "no vector of kind \(kind)")
            #expect(named.allSatisfy { $0.kind == ManagerWire.name(kind) && $0.envelope[0] == UInt64(kind) })
        }
        #expect(ManagerWire.name(71) == nil, "71...95 are reserved")
        #expect(Self.answers.contains { $0.kind == "reply" } && Self.answers.contains { $0.kind == "error" })
    }

    /// The payload a client writes for `vector`, built with the helpers the client uses.
    static func clientPayload(_ vector: Vector) throws -> [UInt8] {
        let e = vector.elements
        switch vector.kindCode {
        case ManagerWire.create:
            guard case .string(let typeID) = e[0], case .array(let arguments) = e[2] else { throw Unexpected(vector.name) }
            return ManagerWire.createPayload(typeID: typeID, name: e[1].stringValue, arguments: arguments.map(\.bytes))
        case ManagerWire.call:
            guard case .string(let method) = e[1], case .array(let arguments) = e[2] else { throw Unexpected(vector.name) }
            return ManagerWire.callPayload(object: try #require(e[0].unsignedValue), method: method, arguments: arguments.map(\.bytes))
        case ManagerWire.retain:
            return ManagerWire.objectPayload(try #require(e[0].unsignedValue), from: .some(e[1].unsignedValue))
        case ManagerWire.release, ManagerWire.transit:
            return ManagerWire.objectPayload(try #require(e[0].unsignedValue))
        case ManagerWire.lookup:
            return ManagerWire.namePayload(try #require(e[0].stringValue))
        case ManagerWire.cancel:
            return [0xc0]
        default:
            throw Unexpected(vector.name)
        }
    }

    struct Unexpected: Error { var vector: String; init(_ vector: String) { self.vector = vector } }

    @Test(arguments: frames)
    func aClientWritesTheExactFrame(_ vector: Vector) throws {
        let payload = try Self.clientPayload(vector)
        #expect(EnvelopeVectors.hex(payload) == EnvelopeVectors.hex(vector.payloadBytes))
        let frame = ManagerWire.request(vector.kindCode, source: vector.source, correlation: vector.correlation, payload: payload)
        #expect(EnvelopeVectors.hex(frame) == vector.frame)
    }

    @Test(arguments: frames)
    func theManagerReadsTheFrameAsWhatItSays(_ vector: Vector) throws {
        let request = try vector.payloadBytes.withUnsafeBytes { try ManagerWire.parse(kind: vector.kindCode, payload: $0) }
        let e = vector.elements
        switch request {
        case .create(let typeID, let name, let arguments):
            #expect(e == [.string(typeID), name.map(MessagePackValue.string) ?? .nil, .array(arguments)])
        case .call(let object, let method, let arguments):
            #expect(e == [.uint(object), .string(method), .array(arguments)])
        case .retain(let object, let from):
            #expect(e == [.uint(object), from.map(MessagePackValue.uint) ?? .nil])
        case .release(let object):
            #expect(vector.kindCode == ManagerWire.release && e == [.uint(object)])
        case .transit(let object):
            #expect(vector.kindCode == ManagerWire.transit && e == [.uint(object)])
        case .lookup(let name):
            #expect(e == [.string(name)])
        case .cancel:
            #expect(vector.kindCode == ManagerWire.cancel && vector.payload == .nil && vector.correlation != 0)
        }
    }

    @Test(arguments: answers)
    func theManagerWritesTheExactAnswer(_ vector: Vector) throws {
        let result: Result<[UInt8], ManagerError>
        if vector.kind == "reply" {
            result = .success(vector.payload.bytes)
        } else {
            guard case .string(let type) = vector.payload["type"], case .string(let message) = vector.payload["message"],
                  type.hasPrefix(ManagerError.remotePrefix) else {
                Issue.record("an error payload is {type: ManagerError.<code>, message}")
                return
            }
            let error = ManagerError(ManagerError.Code(String(type.dropFirst(ManagerError.remotePrefix.count))), message)
            #expect(ManagerError(remote: error.remote) == error, "the code comes back")
            result = .failure(error)
        }
        let frame = ManagerWire.answer(result, correlation: vector.correlation, client: vector.destination)
        #expect(EnvelopeVectors.hex(frame) == vector.frame)
        // A create's and a lookup's reply is [object, typeid], read back by the client.
        if vector.kind == "reply", let request = Self.vectors.first(where: { $0.name == vector.answers }),
           request.kindCode == ManagerWire.create || request.kindCode == ManagerWire.lookup {
            let reference = try ManagerWire.parseReference(vector.payloadBytes)
            #expect(ManagerWire.referencePayload(object: reference.object, typeID: reference.typeID) == vector.payloadBytes)
        }
    }

    /// A fresh manager fed every request and one-way frame of the file in order answers each
    /// request exactly as its answer vector, and nothing else.
    @Test func aManagerAnswersTheConversationByteForByte() throws {
        let loop = EmbeddedEventLoop()
        let objects = ManagerObjects(loop: loop)
        var links: [UInt64: RecordingLink] = [:]
        for vector in Self.frames {
            let link = links[vector.source] ?? RecordingLink(id: vector.source)
            links[vector.source] = link
            let before = link.frames.count
            vector.payloadBytes.withUnsafeBytes { objects.receive(kind: vector.kindCode, correlation: vector.correlation, payload: $0, from: link) }
            let sent = link.frames[before...].map(EnvelopeVectors.hex)
            let expected = Self.answers.filter { $0.answers == vector.name }.map(\.frame)
            #expect(sent == expected, "the answers to \(vector.name)")
        }
        #expect(Self.answers.allSatisfy { answer in Self.frames.contains { $0.name == answer.answers } }, "every answer names a request")
        // The conversation's references: dict 1 (client 3), the named dict 2 and list 3.
        #expect(objects.objectCount == 3)
        objects.clientGone(3)
        objects.clientGone(4)
        #expect(objects.objectCount == 1, "only the named object outlives its clients")
        try loop.syncShutdownGracefully()
    }

    // MARK: bad input at the wire

    /// Feeds one payload of `kind` to a fresh manager holding the dict "d" (object 1) and
    /// returns the answers; the manager must still answer a good call afterwards.
    func feed(kind: UInt8, correlation: UInt64 = 9, payload: [UInt8]) throws -> [Result<[UInt8], ManagerError>] {
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let objects = ManagerObjects(loop: loop)
        let link = RecordingLink(id: 3)
        ManagerWire.createPayload(typeID: "dict", name: "d", arguments: []).withUnsafeBytes {
            objects.receive(kind: ManagerWire.create, correlation: 1, payload: $0, from: link)
        }
        link.results = []
        payload.withUnsafeBytes { objects.receive(kind: kind, correlation: correlation, payload: $0, from: link) }
        let answers = link.results.map(\.result)
        #expect(link.results.allSatisfy { $0.correlation == correlation })
        // The manager serves on.
        link.results = []
        ManagerWire.callPayload(object: 1, method: "count", arguments: []).withUnsafeBytes {
            objects.receive(kind: ManagerWire.call, correlation: 2, payload: $0, from: link)
        }
        #expect(try link.results.map { try $0.result.get() } == [[0x00]], "the manager answers a good call after the bad frame")
        return answers
    }

    /// The one error answering a bad frame: `protocolViolation`, its message holding every piece.
    func expectViolation(kind: UInt8, _ payload: [UInt8], saying pieces: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let answers = try feed(kind: kind, payload: payload)
        guard answers.count == 1, case .failure(let error) = answers[0] else {
            Issue.record("expected one error, got \(answers)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == .protocolViolation, sourceLocation: sourceLocation)
        for piece in pieces {
            #expect(error.message.contains(piece), "\"\(error.message)\" does not say \"\(piece)\"", sourceLocation: sourceLocation)
        }
    }

    static func pack(_ value: MessagePackValue) -> [UInt8] { value.bytes }

    @Test func aPayloadWithTheWrongElementCountIsAProtocolViolationNamingKindAndShape() throws {
        try expectViolation(kind: ManagerWire.call, Self.pack([1, "get"]),
                            saying: ["managerCall", "[object, method, arguments]", "2 elements"])
        try expectViolation(kind: ManagerWire.create, Self.pack(["dict", .nil, [], 7]),
                            saying: ["managerCreate", "[typeid, name, arguments]", "4 elements"])
        try expectViolation(kind: ManagerWire.lookup, Self.pack([]), saying: ["managerLookup", "[name]", "0 elements"])
    }

    @Test func aPayloadOfWrongTypesIsAProtocolViolationNamingKindAndShape() throws {
        try expectViolation(kind: ManagerWire.call, Self.pack(["one", "get", []]), saying: ["managerCall", "is not [object, method, arguments]"])
        try expectViolation(kind: ManagerWire.call, Self.pack([1, "get", "a"]), saying: ["managerCall", "is not [object, method, arguments]"])
        try expectViolation(kind: ManagerWire.create, Self.pack([5, .nil, []]), saying: ["managerCreate", "is not [typeid, name, arguments]"])
        try expectViolation(kind: ManagerWire.create, Self.pack("garbage"), saying: ["managerCreate", "is not [typeid, name, arguments]"])
        try expectViolation(kind: ManagerWire.lookup, Self.pack([-1]), saying: ["managerLookup", "is not [name]"])
        try expectViolation(kind: ManagerWire.call, [0x93, 0x01], saying: ["managerCall", "is not [object, method, arguments]"])   // truncated
    }

    @Test func bytesAfterThePayloadAreAProtocolViolation() throws {
        try expectViolation(kind: ManagerWire.call, Self.pack([1, "get", ["a"]]) + [0xc0],
                            saying: ["managerCall", "has bytes after [object, method, arguments]"])
    }

    @Test(arguments: [71, 80, 95] as [UInt8])
    func anUndefinedKindOfTheRangeIsAProtocolViolationNamingIt(_ kind: UInt8) throws {
        try expectViolation(kind: kind, Self.pack([1]), saying: ["kind \(kind)", "not a manager request", "64...70"])
        // Without a correlation there is nobody to answer: dropped (and logged).
        #expect(try feed(kind: kind, correlation: 0, payload: Self.pack([1])).isEmpty)
    }

    @Test func aMalformedOneWayFrameIsDroppedAndChangesNothing() throws {
        for (kind, payload) in [(ManagerWire.release, Self.pack(["x"])), (ManagerWire.retain, Self.pack([1])),
                                (ManagerWire.transit, Self.pack([1, 2])), (ManagerWire.release, Self.pack([1]) + [0x01])] {
            #expect(try feed(kind: kind, correlation: 0, payload: payload).isEmpty, "kind \(kind) is one-way")
        }
        // A release that would have freed dict 1 had it been read.
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let objects = ManagerObjects(loop: loop)
        let link = RecordingLink(id: 3)
        ManagerWire.createPayload(typeID: "dict", name: nil, arguments: []).withUnsafeBytes {
            objects.receive(kind: ManagerWire.create, correlation: 1, payload: $0, from: link)
        }
        (Self.pack([1]) + [0x01]).withUnsafeBytes { objects.receive(kind: ManagerWire.release, correlation: 0, payload: $0, from: link) }
        #expect(objects.objectCount == 1)
        ManagerWire.objectPayload(1).withUnsafeBytes { objects.receive(kind: ManagerWire.release, correlation: 0, payload: $0, from: link) }
        #expect(objects.objectCount == 0, "the well-formed release frees it")
    }

    @Test func anErrorOfAnotherTypeComesBackAsProtocolViolation() {
        let refused = ManagerError(remote: RemoteError(typeName: "ProtocolError.unknownKind", message: "kind 71"))
        #expect(refused.code == .protocolViolation && refused.message.contains("kind 71"))
        #expect(ManagerError(remote: RemoteError(typeName: "ManagerError.someLaterCode", message: "m")).code.name == "someLaterCode")
    }
}

/// A client of a manager under test: keeps every answer and its frame.
final class RecordingLink: ManagerLink {
    let id: UInt64
    var name: String { "test client \(id)" }
    var results: [(correlation: UInt64, result: Result<[UInt8], ManagerError>)] = []
    private(set) var frames: [[UInt8]] = []

    init(id: UInt64) { self.id = id }

    func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64) {
        results.append((correlation, result))
        frames.append(ManagerWire.answer(result, correlation: correlation, client: id))
    }
}

extension MessagePackValue {
    /// The value as a UInt64 if it is a non-negative integer.
    var unsignedValue: UInt64? {
        switch self {
        case .uint(let v): v
        case .int(let v): v >= 0 ? UInt64(v) : nil
        default: nil
        }
    }
}
