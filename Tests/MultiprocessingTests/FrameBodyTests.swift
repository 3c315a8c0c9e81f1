import Foundation
import MessagePack
import MPTestEntries
import NIOCore
import Testing
@testable import Multiprocessing

/// Frame bodies the supervisor receives: a large payload stays in the buffer it was read into
/// and is copied once, into the caller's `Data`; every form decodes equal.
@Suite(.serialized) struct FrameBodyTests {
    init() { TestWorker.use() }

    static let envelope = Envelope(.reply, from: 3, to: Envelope.supervisor, correlation: 9)

    /// The bytes of a body whose payload is `blob` as a `bin`.
    static func body(_ blob: Data) throws -> [UInt8] {
        try FrameBody(envelope, encoding: blob).encoded()
    }

    @Test(arguments: [FrameBody.sharedPayloadSize, 1 << 20, 3 << 20])
    func aLargePayloadStaysInItsReceiveBufferAndDecodesEqual(size: Int) throws {
        let blob = Patterned.bytes(size)
        let bytes = try Self.body(blob)
        var buffer = ByteBuffer(bytes: [0xee, 0xee] + bytes + [0xee])   // a view into a larger read
        buffer.moveReaderIndex(forwardBy: 2)
        let received = try FrameBody(parsing: buffer.readSlice(length: bytes.count)!)
        #expect(received.payloadIsShared)
        let copied = try FrameBody(parsing: bytes)
        #expect(!copied.payloadIsShared)
        #expect(received == copied)
        #expect(received.hashValue == copied.hashValue)
        #expect(received.envelope == Self.envelope)
        #expect(received.payload == copied.payload)
        #expect(try received.decodePayload(Data.self) == blob)
        #expect(try received.decodePayload(MessagePackValue.self) == .binary(blob))
    }

    @Test func aSmallPayloadIsCopiedOutOfTheReadBuffer() throws {
        let blob = Patterned.bytes(FrameBody.sharedPayloadSize - 100)
        let received = try FrameBody(parsing: ByteBuffer(bytes: try Self.body(blob)))
        #expect(!received.payloadIsShared)
        #expect(try received.decodePayload(Data.self) == blob)
    }

    /// A large payload that is not exactly one `bin` goes to the decoder, which names the fault.
    @Test func aLargePayloadThatIsNotOneBinIsRefusedByTheDecoder() throws {
        var bytes = try Self.body(Patterned.bytes(1 << 20))
        bytes.append(0xc0)   // a trailing nil after the bin
        let received = try FrameBody(parsing: ByteBuffer(bytes: bytes))
        #expect(received.payloadIsShared)
        #expect(throws: DecodingError.self) { _ = try received.decodePayload(Data.self) }
        let ints = try FrameBody(Self.envelope, encoding: [Int](repeating: 300, count: 40_000)).encoded()
        #expect(try FrameBody(parsing: ByteBuffer(bytes: ints)).decodePayload([Int].self).count == 40_000)
        #expect(throws: DecodingError.self) { _ = try FrameBody(parsing: ByteBuffer(bytes: ints)).decodePayload(Data.self) }
    }

    /// A worker's `Data` reply goes out from its own memory behind a frame head and arrives
    /// byte for byte, between small replies on the same channel.
    @Test func aLargeDataReplyArrivesByteExact() async throws {
        let worker = try await ChildProcess.start(Patterned.self)
        for size in [10, 70_000, 5 << 20, 3, 20 << 20] {
            let reply = try await worker.request(size, as: Data.self, timeout: .seconds(60))
            #expect(reply.count == size)
            #expect(reply == Patterned.bytes(size), "reply of \(size) bytes")
        }
        worker.closeMailbox()
        try await worker.join(timeout: .seconds(30))
    }
}
