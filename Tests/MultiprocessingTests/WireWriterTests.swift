import Testing
import MessagePack
import NIOCore
@testable import Multiprocessing

/// The header-level writer on the supervisor's buffers: `ByteBuffer` writes what `[UInt8]`
/// writes, and an envelope packed in place is byte for byte its `Codable` encoding.
@Suite struct WireWriterTests {
    /// One of every form, written the same way into any output.
    private func writeEveryForm<Output: MessagePackOutput>(into output: inout Output) {
        output.packArrayHeader(12)
        output.packNil()
        output.packBool(true)
        output.packUInt(0x1_0000)
        output.packInt(-0x81)
        output.packFixedWidth(UInt32(7))
        output.packDouble(0.5)
        output.packFloat(2)
        output.packString("queue")
        output.packBinaryHeader(count: 300)
        [UInt8](repeating: 1, count: 300).withUnsafeBytes { output.packRaw($0) }
        output.packMapHeader(16)
        for key in 0..<16 { output.packUInt(UInt64(key)); output.packNil() }
        output.packArrayHeader(0x1_0000)
        output.packRaw(UnsafeRawBufferPointer(start: nil, count: 0))
    }

    @Test func aByteBufferGetsTheSameBytesAsAnArray() throws {
        var array: [UInt8] = []
        writeEveryForm(into: &array)
        var buffer = ByteBuffer()
        writeEveryForm(into: &buffer)
        #expect(Array(buffer.readableBytesView) == array)
        // The array header announces 0x10000 elements that are not there: only the prefix is one value.
        #expect(array.starts(with: [0x9c, 0xc0, 0xc3, 0xce, 0x00, 0x01, 0x00, 0x00, 0xd1, 0xff, 0x7f, 0xce, 0, 0, 0, 7]))
    }

    @Test(arguments: [UInt64(0), 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, .max])
    func aPackedEnvelopeIsItsCodableEncoding(_ value: UInt64) throws {
        let envelopes = [
            Envelope(Envelope.Kind(rawValue: value), from: 1, to: 2, correlation: 3),
            Envelope(.request, flags: .init(rawValue: value), from: value, to: value, correlation: value),
        ]
        for envelope in envelopes {
            var packed: [UInt8] = []
            envelope.pack(into: &packed)
            #expect(packed == (try MessagePackEncoder().encode(envelope)))
            var buffer = ByteBuffer()
            envelope.pack(into: &buffer)
            #expect(Array(buffer.readableBytesView) == packed)
            let (read, length) = try (packed + [0xc0]).withUnsafeBytes { try Envelope.parsePrefix($0) }
            #expect(read == envelope && length == packed.count)
        }
    }

    /// A get answer's item that claims more bytes than follow, or a status that is not one, is
    /// refused with what is wrong.
    @Test func aMalformedGetAnswerNamesWhatIsWrong() {
        for (payload, words) in [([UInt8]([0x92, 0x00, 0xc5, 0x00]), "truncated"), ([0x92, 0x07, 0xc4, 0x00], "status"),
                                 ([0x91, 0x00, 0x00], "follow"), ([0x80], "typeMismatch")] {
            do {
                _ = try QueueWire.parseGetAnswer(payload)
                Issue.record("\(payload) was accepted")
            } catch {
                #expect(error.description.contains(words), "\(error)")
            }
        }
    }
}
