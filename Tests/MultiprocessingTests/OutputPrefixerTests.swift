import Synchronization
import NIOCore
import NIOEmbedded
import Testing
@testable import Multiprocessing

/// A child's captured output, driven through an `EmbeddedChannel` into a real pipe: every line
/// prefixed with the child's name, however the reads cut it.
@Suite struct OutputPrefixerTests {
    /// Feeds `reads` to a prefixer named `name`, then end of input; returns what reached the pipe.
    static func prefixed(_ name: String, _ reads: [String], endOfInput: Bool = true) throws -> String {
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close() }
        do {
            defer { try? pipe.writeEnd.close() }
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(OutputPrefixer(.prefixed, name: name, target: pipe.writeEnd))
            for read in reads { try channel.writeInbound(channel.allocator.buffer(string: read)) }
            if endOfInput { channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) }
            if count == 0 { break }
            output += chunk[..<count]
        }
        return String(decoding: output, as: UTF8.self)
    }

    @Test func everyLineIsPrefixedWhereverTheReadsCutIt() throws {
        #expect(try Self.prefixed("tally-1", ["one\ntw", "o\n", "three\nfour\n"]) == "[tally-1] one\n[tally-1] two\n[tally-1] three\n[tally-1] four\n")
    }

    @Test func aLastLineWithoutNewlineIsWrittenAtEndOfInput() throws {
        #expect(try Self.prefixed("w-2", ["done\nno newline"]) == "[w-2] done\n[w-2] no newline\n")
    }

    @Test func aPartialLineWaitsForItsEnd() throws {
        #expect(try Self.prefixed("w-3", ["half a li"], endOfInput: false) == "")
    }

    @Test func withLinesEachWholeLineReachesTheFunctionWithItsStreamAndNoPrefix() throws {
        let received = Mutex<[String]>([])
        let lines = ChildOutputLines { stream, line in received.withLock { $0.append("\(stream == .standardError ? "err" : "out"):\(line)") } }
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(OutputPrefixer(.lines(lines), name: "parse[0]", target: FileDescriptor(rawValue: 2)))
        for read in ["one\ntw", "o\n\nthr", "ee"] { try channel.writeInbound(channel.allocator.buffer(string: read)) }
        #expect(received.withLock { $0 } == ["err:one", "err:two", "err:"])
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(received.withLock { $0 } == ["err:one", "err:two", "err:", "err:three"])
    }
}
