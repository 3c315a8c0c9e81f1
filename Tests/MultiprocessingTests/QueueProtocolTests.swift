import Foundation
import Testing
import MessagePack
@testable import Multiprocessing

/// The queue frames against Protocols/vectors/queues.json: what a worker sends is parsed by the
/// supervisor's reader and rebuilt byte for byte by the worker's writers; answers split into
/// their status and items.
@Suite struct QueueProtocolTests {
    struct Vector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var kind: String
        var kindCode: UInt64
        var envelope: [UInt64?]
        var payload: MessagePackValue
        var items: [MessagePackValue]?
        var body: String
        var frame: String
        var testDescription: String { name }

        enum CodingKeys: String, CodingKey { case name, kind, kindCode, envelope, payload, items, body, frame }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            kind = try c.decode(String.self, forKey: .kind)
            kindCode = try c.decode(UInt64.self, forKey: .kindCode)
            envelope = try c.decode([UInt64?].self, forKey: .envelope)
            payload = try c.decode(EnvelopeVectors.Described.self, forKey: .payload).value
            items = try c.decodeIfPresent([EnvelopeVectors.Described].self, forKey: .items)?.map(\.value)
            body = try c.decode(String.self, forKey: .body)
            frame = try c.decode(String.self, forKey: .frame)
        }

        var bodyBytes: [UInt8] { EnvelopeVectors.bytes(body) }
        /// Sent by a worker, with the queue id in the envelope.
        var isRequest: Bool { QueueWire.Kind.range.contains(kindCode) && kind != "queueClosed" && kind != "queueThrottle" }
    }

    static let vectors = (try? EnvelopeVectors.load("queues", as: Vector.self)) ?? []

    @Test func everyQueueKindHasAVector() {
        let covered = Set(Self.vectors.map(\.kindCode))
        for kind in QueueWire.Kind.all {
            #expect(covered.contains(kind.rawValue), "no vector of \(QueueWire.Kind.name(kind) ?? "?")")
            #expect(Self.vectors.filter { $0.kindCode == kind.rawValue }.allSatisfy { $0.kind == QueueWire.Kind.name(kind) })
        }
    }

    /// A worker reads `queueThrottle [queue, throttled]` as the vectors write it.
    @Test func aWorkerReadsTheThrottleNotice() throws {
        let notices = Self.vectors.filter { $0.kind == "queueThrottle" }
        #expect(notices.count == 2)
        for vector in notices {
            let body = try FrameBody(parsing: vector.bodyBytes)
            #expect(body.envelope.kind == QueueWire.Kind.throttle)
            let notice = try body.decodePayload(QueueWire.Throttle.self)
            #expect(notice.queue == 1)
            #expect(notice.throttled == (vector.name == "queue-throttle-on"))
        }
    }

    @Test(arguments: vectors.filter(\.isRequest))
    func theSupervisorReadsWhatAWorkerSends(_ vector: Vector) throws {
        let body = vector.bodyBytes
        let header = try body.withUnsafeBytes { try QueueWire.parseHeader($0) }
        #expect(header.kind.rawValue == vector.kindCode)
        #expect(header.source == vector.envelope[2])
        #expect(header.correlation == vector.envelope[4])
        #expect(header.queue == vector.envelope[5])
        #expect(header.timeout == (vector.envelope.count > 6 ? vector.envelope[6] : nil))
        #expect(try MessagePackValue(unpacking: Array(body[header.payloadOffset...])) == vector.payload)
        // A version-1 reader still splits it (the extra elements are ignored).
        let split = try FrameBody(parsing: body)
        #expect(split.envelope.kind.rawValue == vector.kindCode && split.envelope.destination == 0)
        #expect(body.first.map { QueueWire.isQueueFrame(firstByte: $0, kindByte: body[1]) } == true)
    }

    @Test(arguments: vectors.filter(\.isRequest))
    func aWorkerWritesTheExactFrame(_ vector: Vector) throws {
        let e = vector.envelope
        let kind = Envelope.Kind(rawValue: vector.kindCode)
        let payload = try MessagePackEncoder().encode(vector.payload)
        var bytes: [UInt8] = []
        let timeout: UInt64?? = e.count > 6 ? .some(e[6]) : .none
        payload.withUnsafeBytes {
            QueueWire.appendFrame(kind, source: e[2]!, correlation: e[4]!, queue: e[5]!, timeout: timeout, payload: $0, to: &bytes)
        }
        #expect(EnvelopeVectors.hex(bytes) == vector.frame)
        if e.count == 6 {
            // The one-way frames go through a FrameWriter with the envelope as a MessagePackValue.
            var writer = FrameWriter()
            try writer.append(QueueWire.envelope(kind, source: e[2]!, correlation: e[4]!, queue: e[5]!), vector.payload)
            #expect(EnvelopeVectors.hex(writer.take()) == vector.frame)
        }
    }

    @Test(arguments: vectors.filter { $0.items != nil })
    func aGetAnswerSplitsIntoItsItems(_ vector: Vector) throws {
        let body = try FrameBody(parsing: vector.bodyBytes)
        let (status, items) = try QueueWire.parseGetAnswer(body.payload)
        #expect(status == .ok)
        #expect(try items.map { try MessagePackValue(unpacking: Array($0)) } == vector.items)
    }

    @Test func malformedQueueFramesAreRefusedWithTheirPlace() throws {
        // The queue id (sixth element) is nil.
        let nilQueue: [UInt8] = [0x96, 0x21, 0, 3, 0, 0, 0xc0, 0xc0]
        #expect(throws: QueueWire.Malformed.self) { try nilQueue.withUnsafeBytes { try QueueWire.parseHeader($0) } }
        // Nothing after the envelope.
        let noPayload: [UInt8] = [0x96, 0x21, 0, 3, 0, 0, 1]
        #expect(throws: QueueWire.Malformed.self) { try noPayload.withUnsafeBytes { try QueueWire.parseHeader($0) } }
        // A get answer whose item is not wrapped in bin.
        #expect(throws: QueueWire.Malformed.self) { try QueueWire.parseGetAnswer([0x92, 0x00, 0x07]) }
        // A bin that claims more bytes than remain.
        #expect(throws: QueueWire.Malformed.self) { try QueueWire.parseGetAnswer([0x92, 0x00, 0xc4, 0x05, 0x01]) }
    }
}
