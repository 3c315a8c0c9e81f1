import MessagePack
import NIOCore
import NIOEmbedded
import Testing
@testable import Multiprocessing

/// The supervisor's channel handler, driven through NIO's in-memory `EmbeddedChannel` the way
/// swift-nio tests its own handlers: bytes in, then what the child's sink was handed. No child
/// runs; the sink stands where the child's record stands (``ChildFrameSink``).
@Suite struct ChildChannelHandlerTests {
    /// The child under test is worker 7; worker 9 is another live worker.
    static let child: UInt64 = 7
    static let other: UInt64 = 9

    /// A channel whose handler hands frames to `sink`, with `services` and a maximum frame size.
    static func channel(_ sink: RecordingSink, services: [any SupervisorService] = [], maxFrameSize: Int = 1024) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let handler = ChildChannelHandler(sink: sink, services: try ServiceTable(services), maxFrameSize: maxFrameSize)
        try channel.pipeline.syncOperations.addHandler(handler)
        return channel
    }

    /// One frame: envelope `kind` from `source` to `destination`, payload `text`.
    static func frame(_ kind: Envelope.Kind, from source: UInt64 = child, to destination: UInt64 = Envelope.supervisor,
                      _ text: String, correlation: UInt64 = 0) throws -> [UInt8] {
        var writer = FrameWriter()
        try writer.append(Envelope(kind, from: source, to: destination, correlation: correlation), payload: text)
        return writer.take()
    }

    /// Writes `bytes` as one read (channelRead, then channelReadComplete).
    static func read(_ channel: EmbeddedChannel, _ bytes: some Sequence<UInt8>) throws {
        try channel.writeInbound(channel.allocator.buffer(bytes: Array(bytes)))
    }

    @Test func twoFramesSplitAtEveryByteBoundaryArriveWholeAndInOrder() throws {
        let bytes = try Self.frame(.message, "first") + Self.frame(.request, "second", correlation: 3)
        for cut in 0...bytes.count {
            let sink = RecordingSink(id: Self.child)
            let channel = try Self.channel(sink)
            try Self.read(channel, bytes[..<cut])
            try Self.read(channel, bytes[cut...])
            #expect(try sink.receivedTexts() == ["first", "second"], "cut at byte \(cut)")
            #expect(sink.received.map(\.envelope.kind) == [.message, .request])
            #expect(sink.disconnects.isEmpty && sink.malformed.isEmpty)
            _ = try channel.finish()
        }
    }

    @Test func severalFramesInOneReadAreAllHandedOn() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        try Self.read(channel, try Self.frame(.message, "a") + Self.frame(.message, "b") + Self.frame(.message, "c"))
        #expect(try sink.receivedTexts() == ["a", "b", "c"])
        _ = try channel.finish()
    }

    @Test func aFrameStraddlingThreeReadsIsReassembled() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        let text = String(repeating: "x", count: 300)
        let bytes = try Self.frame(.message, text) + Self.frame(.message, "next")
        // The header split across the first two reads, the body across the last two.
        try Self.read(channel, bytes[..<2])
        #expect(sink.received.isEmpty)
        try Self.read(channel, bytes[2..<150])
        #expect(sink.received.isEmpty)
        try Self.read(channel, bytes[150...])
        #expect(try sink.receivedTexts() == [text, "next"])
        _ = try channel.finish()
    }

    @Test func aFrameOverTheMaximumDisconnectsAndNothingAfterItIsRead() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink, maxFrameSize: 64)
        try Self.read(channel, try Self.frame(.message, "before"))
        let header: [UInt8] = [0, 0, 0, 65]   // one byte above the maximum, no body needed
        try Self.read(channel, header + Self.frame(.message, "after"))
        try Self.read(channel, try Self.frame(.message, "later"))
        #expect(try sink.receivedTexts() == ["before"])
        #expect(sink.disconnects == ["sent a frame of 65 bytes, above the maximum of 64"])
        _ = try? channel.finish()
    }

    @Test func aMalformedBodyIsRefusedAndTheNextFrameStillRead() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        let malformed: [UInt8] = [0, 0, 0, 2, 0xc1, 0x00]   // 0xc1 is never valid msgpack
        try Self.read(channel, malformed + Self.frame(.message, "still read"))
        #expect(sink.malformed.count == 1)
        #expect(try sink.receivedTexts() == ["still read"])
        #expect(sink.disconnects.isEmpty)
        _ = try channel.finish()
    }

    @Test func aMalformedBodyBeforeTheWelcomeStopsTheReading() throws {
        let sink = RecordingSink(id: Self.child)
        sink.welcomed = false
        let channel = try Self.channel(sink)
        try Self.read(channel, [0, 0, 0, 2, 0xc1, 0x00] + Self.frame(.message, "never"))
        #expect(sink.malformed.count == 1)
        #expect(sink.received.isEmpty)
        _ = try? channel.finish()
    }

    @Test func framesForAnotherWorkerAreForwardedUntouchedOneWritePerRead() throws {
        let sink = RecordingSink(id: Self.child)
        let other = RecordingSink(id: Self.other)
        sink.workers[Self.other] = other
        let channel = try Self.channel(sink)
        let first = try Self.frame(.message, to: Self.other, "one") + Self.frame(.reply, to: Self.other, "two", correlation: 4)
            + Self.frame(.request, to: Self.other, "three", correlation: 5)
        let mine = try Self.frame(.message, "for the supervisor")
        try Self.read(channel, first + mine)
        #expect(other.forwarded == [first], "three frames, one write, byte for byte")
        #expect(try sink.receivedTexts() == ["for the supervisor"])
        #expect(sink.forwardedReads == 1)
        let second = try Self.frame(.message, to: Self.other, "four")
        try Self.read(channel, second)
        #expect(other.forwarded == [first, second])
        #expect(sink.forwardedReads == 2)
        _ = try channel.finish()
    }

    @Test func requestsForAPausedWorkerAreHeldRepliesAreNot() throws {
        let sink = RecordingSink(id: Self.child)
        let other = RecordingSink(id: Self.other)
        other.takesHeldKindsAtOnce = false
        sink.workers[Self.other] = other
        let channel = try Self.channel(sink)
        let request = try Self.frame(.request, to: Self.other, "wait", correlation: 6)
        let reply = try Self.frame(.reply, to: Self.other, "go", correlation: 2)
        try Self.read(channel, request + reply)
        #expect(other.held.map { $0.bytes } == [request])
        #expect(other.held.map { $0.source } == [Self.child])
        #expect(other.forwarded == [reply])
        _ = try channel.finish()
    }

    @Test func aForgedSourceAndAnUnknownDestinationAreRefused() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        try Self.read(channel, try Self.frame(.request, from: 8, to: Self.other, "forged", correlation: 2)
                      + Self.frame(.request, to: 42, "nobody", correlation: 3))
        #expect(sink.wrongSources.map(\.source) == [8])
        #expect(sink.unknownDestinations.map(\.destination) == [42])
        #expect(sink.forwardedReads == 0)
        _ = try channel.finish()
    }

    @Test func aServicesKindGoesToTheServiceAsItsBody() throws {
        let sink = RecordingSink(id: Self.child)
        let service = RecordingService()
        let channel = try Self.channel(sink, services: [service])
        let frame = try Self.frame(Envelope.Kind(rawValue: 70), "for the service")
        try Self.read(channel, frame + Self.frame(.message, "core"))
        #expect(service.frames.map(\.kind) == [70])
        #expect(service.frames.map(\.body) == [Array(frame[4...])])
        #expect(service.frames.map(\.peer) == [Self.child])
        #expect(try sink.receivedTexts() == ["core"])
        _ = try channel.finish()
    }

    @Test func endOfInputInsideAFrameDisconnects() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        let bytes = try Self.frame(.message, "cut short")
        try Self.read(channel, bytes[..<7])
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(sink.disconnects == ["closed its channel inside a frame (7 bytes of it arrived)"])
        #expect(sink.ended >= 1)
        #expect(sink.received.isEmpty)
    }

    @Test func endOfInputAtAFrameBoundaryEndsCleanly() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        try Self.read(channel, try Self.frame(.goodbye, "bye"))
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(sink.disconnects.isEmpty)
        #expect(sink.ended >= 1)
        #expect(sink.received.map(\.envelope.kind) == [.goodbye])
    }

    /// What NIO does when a write to a dead child fails inside a read: it drains the pipe (a
    /// nested read) and closes the channel. The child's last frames reach the sink before its
    /// end does, so the answers they carry are not lost (a pool once charged an innocent
    /// input with its worker's death this way).
    @Test func aChannelThatEndsInsideAReadEndsAfterTheFramesDrainedForIt() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        let last = try Self.frame(.reply, "last answer", correlation: 4)
        var reacted = false
        sink.onReceived = { _ in
            guard !reacted else { return }
            reacted = true
            channel.pipeline.syncOperations.fireChannelRead(NIOAny(channel.allocator.buffer(bytes: last)))
            channel.pipeline.syncOperations.fireErrorCaught(IOError(errnoCode: 32, reason: "write"))   // EPIPE
            channel.pipeline.syncOperations.fireChannelInactive()
            #expect(sink.events == ["received first"], "nothing more is handed on inside the read")
        }
        try Self.read(channel, try Self.frame(.reply, "first", correlation: 3))
        #expect(sink.events.first == "received first")
        #expect(sink.events.dropFirst().first == "received last answer")
        #expect(sink.events.dropFirst(2).allSatisfy { $0 == "ended" } && sink.ended >= 1)
        #expect(sink.disconnects.isEmpty)
    }

    @Test func aChannelThatEndsInsideAReadWithAFrameCutShortStillDisconnects() throws {
        let sink = RecordingSink(id: Self.child)
        let channel = try Self.channel(sink)
        let cut = try Self.frame(.reply, "cut short", correlation: 4)
        sink.onReceived = { _ in
            channel.pipeline.syncOperations.fireChannelRead(NIOAny(channel.allocator.buffer(bytes: cut[..<9])))
            channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        try Self.read(channel, try Self.frame(.reply, "first", correlation: 3))
        #expect(sink.disconnects == ["closed its channel inside a frame (9 bytes of it arrived)"])
        #expect(sink.events.first == "received first" && sink.events.last == "ended")
    }
}

/// Stands where a child's record stands: records what the handler hands it.
final class RecordingSink: ChildFrameSink, @unchecked Sendable {   // confined to the test's EmbeddedChannel thread
    let id: UInt64
    var name: String { "worker-\(id)" }
    var welcomed = true
    var takesHeldKindsAtOnce = true
    var workers: [UInt64: RecordingSink] = [:]
    var received: [FrameBody] = []
    var forwarded: [[UInt8]] = []
    var held: [(bytes: [UInt8], source: UInt64?)] = []
    var malformed: [FrameBodyError] = []
    var wrongSources: [Envelope] = []
    var unknownDestinations: [Envelope] = []
    var disconnects: [String] = []
    var ended = 0
    /// Received frames and ends, in the order the handler reported them.
    var events: [String] = []
    /// Runs inside the handler's read, after each frame is recorded.
    var onReceived: ((FrameBody) -> Void)?
    var writable = 0
    var forwardedReads = 0

    init(id: UInt64) { self.id = id }

    func receivedTexts() throws -> [String] { try received.map { try $0.decodePayload(String.self) } }

    func speaks(_ capability: String) -> Bool { false }
    func worker(_ id: UInt64) -> RecordingSink? { workers[id] }
    func deliverHeldKind(_ frames: inout ByteBuffer, from source: RecordingSink?) {
        held.append((frames.readBytes(length: frames.readableBytes)!, source?.id))
    }
    func forward(_ frames: ByteBuffer) { forwarded.append(Array(frames.readableBytesView)) }
    func received(_ body: FrameBody) {
        received.append(body)
        events.append("received " + ((try? body.decodePayload(String.self)) ?? "?"))
        onReceived?(body)
    }
    func refuseWrongSource(_ envelope: Envelope) { wrongSources.append(envelope) }
    func refuseUnknownDestination(_ envelope: Envelope) { unknownDestinations.append(envelope) }
    func refuseMalformedBody(_ error: FrameBodyError) -> Bool {
        malformed.append(error)
        return welcomed
    }
    func disconnect(reason: String) { disconnects.append(reason) }
    func channelWritable() { writable += 1 }
    func channelEnded() {
        ended += 1
        events.append("ended")
    }
    func forwardedFrames() { forwardedReads += 1 }
}

/// A service over kinds 64...95 that records the frames it gets.
final class RecordingService: SupervisorService, @unchecked Sendable {   // confined to the test's EmbeddedChannel thread
    let kinds: ClosedRange<UInt8> = 64...95
    var frames: [(kind: UInt8, body: [UInt8], peer: UInt64)] = []
    func start(host: any ServiceHost) {}
    func receive(_ frame: ServiceFrame, from peer: any ServicePeer) {
        frames.append((frame.kind, Array(frame.body.readableBytesView), peer.id))
    }
    func peerGone(_ peer: UInt64) {}
}
