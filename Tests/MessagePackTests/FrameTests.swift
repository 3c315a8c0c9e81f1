import Foundation
import Testing
@testable import MessagePack

/// Frames: a 4-byte big-endian length, then one value (or an envelope and a payload).
@Suite struct FrameTests {
    struct Reading: Codable, Equatable { var id: Int; var name: String; var value: Double }

    func stream(_ count: Int) throws -> [UInt8] {
        var writer = FrameWriter()
        for i in 0..<count { try writer.append(Reading(id: i, name: "r\(i)", value: Double(i))) }
        return writer.take()
    }

    @Test func aWriterCoalescesFramesIntoOneBuffer() throws {
        var writer = FrameWriter()
        try writer.append(1)
        try writer.append("a")
        #expect(writer.take() == [0, 0, 0, 1, 0x01, 0, 0, 0, 2, 0xa1, 0x61])
        #expect(writer.count == 0, "take empties it")
    }

    @Test func framesSurviveOneByteAtATime() throws {
        let bytes = try stream(50)
        var reader = FrameReader()
        var got: [Reading] = []
        for byte in bytes {
            reader.append([byte])
            while let r = try reader.next(Reading.self) { got.append(r) }
        }
        #expect(got.map(\.id) == Array(0..<50))
        try reader.finish()
    }

    @Test(arguments: [2, 3, 7, 64, 1000])
    func framesSurviveAnyChunking(chunk: Int) throws {
        let bytes = try stream(200)
        var reader = FrameReader()
        var ids: [Int] = []
        var start = 0
        while start < bytes.count {
            reader.append(bytes[start..<min(start + chunk, bytes.count)])
            start += chunk
            while let r = try reader.next(Reading.self) { ids.append(r.id) }
        }
        #expect(ids == Array(0..<200))
        #expect(reader.bufferedByteCount == 0)
    }

    @Test func anOversizedFrameIsRefusedAtItsHeader() throws {
        var reader = FrameReader(maxFrameSize: 1024)
        reader.append(try stream(1))
        #expect(try reader.next(Reading.self)?.id == 0)
        let offset = try stream(1).count
        reader.append([0x00, 0x00, 0x04, 0x01])   // 1025 bytes announced; none of them sent
        let error = messagePackError { _ = try reader.nextFrame() }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.offset == offset)
        #expect(error?.message.contains("1025") == true)
        reader.append(try stream(1))
        #expect(messagePackError { _ = try reader.nextFrame() }?.code == .frameTooLarge, "the stream stays failed")
    }

    @Test func theDefaultMaximumIs64MiB() {
        var reader = FrameReader()
        reader.append([0x04, 0x00, 0x00, 0x00])   // exactly 64 MiB: allowed, waits for the body
        #expect(throws: Never.self) { _ = try reader.nextFrame() }
        var over = FrameReader()
        over.append([0x04, 0x00, 0x00, 0x01])
        #expect(messagePackError { _ = try over.nextFrame() }?.code == .frameTooLarge)
    }

    @Test func endOfInputInsideAFrameDiffersFromACleanEnd() throws {
        let bytes = try stream(2)
        var clean = FrameReader()
        clean.append(bytes)
        while try clean.nextFrame() != nil {}
        #expect(throws: Never.self) { try clean.finish() }

        var inHeader = FrameReader()
        inHeader.append(bytes + [0, 0])
        while try inHeader.nextFrame() != nil {}
        #expect(messagePackError { try inHeader.finish() }?.message.contains("header") == true)

        var inBody = FrameReader()
        inBody.append(bytes.dropLast())
        while try inBody.nextFrame() != nil {}
        let error = messagePackError { try inBody.finish() }
        #expect(error?.code == .truncated)
        #expect(error?.message.contains("body") == true)
    }

    @Test func aGarbageFrameFailsAloneAndTheNextOnesStillDecode() throws {
        var writer = FrameWriter()
        try writer.append(Reading(id: 1, name: "a", value: 1))
        try [UInt8]([0xc1, 0xc1]).withUnsafeBytes { try writer.append(body: $0) }
        try writer.append(Reading(id: 2, name: "b", value: 2))
        var reader = FrameReader()
        reader.append(writer.take())
        #expect(try reader.next(Reading.self)?.id == 1)
        #expect(messagePackError { _ = try reader.next(Reading.self) }?.code == .reservedByte)
        #expect(try reader.next(Reading.self)?.id == 2)
    }

    @Test func aValueAboveTheMaximumFailsAtAppendAndLeavesTheBufferAlone() throws {
        var writer = FrameWriter(maxFrameSize: 100)
        try writer.append(1)
        let before = writer.count
        let error = messagePackError { try writer.append(Data(count: 200)) }
        #expect(error?.code == .frameTooLarge)
        #expect(writer.count == before)
        try writer.append(2)
        var reader = FrameReader()
        reader.append(writer.take())
        #expect(try reader.next(Int.self) == 1)
        #expect(try reader.next(Int.self) == 2)
    }

    @Test func anEnvelopeAndPayloadShareOneFrame() throws {
        var writer = FrameWriter()
        try writer.append([3, 0, 1, 2, 99], Reading(id: 5, name: "p", value: 0))
        var reader = FrameReader()
        reader.append(writer.take())
        let (envelope, payload) = try reader.withNextFrame { body in
            let (envelope, used) = try MessagePackDecoder().decodePrefix([Int].self, from: body)
            return (envelope, Array(body[used...]))
        }!
        #expect(envelope == [3, 0, 1, 2, 99])
        #expect(try decode(Reading.self, payload).id == 5)
    }

    /// A frame head, then the binary bytes written after it, is byte for byte the frame that
    /// encoding the same `Data` into the writer makes (bin 8, 16 and 32 headers).
    @Test(arguments: [0, 200, 70_000, 1 << 20])
    func aHeadFollowedByItsBytesIsTheSameFrameAsTheEncodedValue(size: Int) throws {
        let blob = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        var whole = FrameWriter()
        try whole.append([3, 0, 1, 2, 0], blob)
        var head = FrameWriter()
        try head.appendHead([3, 0, 1, 2, 0], binaryCount: blob.count)
        let sent = head.take() + blob
        #expect(sent == whole.take())
        var reader = FrameReader()
        reader.append(sent)
        let payload = try reader.withNextFrame { body in
            let (_, used) = try MessagePackDecoder().decodePrefix([Int].self, from: body)
            return try MessagePackDecoder().decode(Data.self, from: UnsafeRawBufferPointer(rebasing: body[used...]))
        }
        #expect(payload == blob)
    }

    /// The length prefix counts the bytes left out: above the maximum, nothing is appended.
    @Test func aHeadWhoseBytesPassTheMaximumIsRefusedAndLeavesTheBufferAlone() throws {
        var writer = FrameWriter(maxFrameSize: 100)
        try writer.append(1)
        let before = writer.count
        #expect(messagePackError { try writer.appendHead([3, 0, 1, 2, 0], binaryCount: 95) }?.code == .frameTooLarge)
        #expect(messagePackError { try writer.appendHead([3, 0, 1, 2, 0], binaryCount: 1 << 40) }?.code == .frameTooLarge)
        #expect(writer.count == before)
        try writer.appendHead([3, 0, 1, 2, 0], binaryCount: 90)   // 6 + 2 + 90 = 98 bytes
        #expect(writer.count == before + 4 + 8)
    }
}
