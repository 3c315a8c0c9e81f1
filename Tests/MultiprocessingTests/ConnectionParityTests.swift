import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Python's `Pipe(duplex=False)`, `recv_bytes_into` with `BufferTooShort`, `fileno`, and
/// negative timeouts meaning zero on connections.
@Suite(.serialized) struct ConnectionParityTests {
    init() { TestWorker.use() }

    @Test func aOneWayPairHasAReaderAndAWriterAndRefusesTheWrongDirection() throws {
        let (reader, writer) = try Connection.pair(duplex: false)
        defer { reader.close(); writer.close() }
        #expect(reader.isReadable && !reader.isWritable)
        #expect(writer.isWritable && !writer.isReadable)
        try writer.send("hello")
        #expect(try reader.receive(String.self) == "hello")
        #expect(throws: ConnectionError.self) { try reader.send("back") }
        do { try reader.send("back") } catch { #expect(error.code == .wrongDirection) }
        do { _ = try writer.receive(String.self) } catch { #expect(error.code == .wrongDirection) }
        do { _ = try writer.poll() } catch { #expect(error.code == .wrongDirection) }
        writer.close()
        do { _ = try reader.receive(String.self) } catch { #expect(error.code == .peerClosed) }
    }

    @Test func aOneWayReaderPassedToAChildReadsUntilTheWriterCloses() async throws {
        let (reader, writer) = try Connection.pair(duplex: false)
        var options = ProcessOptions()
        try options.pass(reader, as: "reader")
        let task: ProcessTask<[String]>
        do {
            task = try await ChildProcess.start(ApiEntries.readOneWay, options: options)
            reader.close()
        } catch {
            reader.close(); writer.close()
            throw error
        }
        try await writer.send("one")
        try await writer.send("two")
        writer.close()
        #expect(try await task.value == ["refused", "one", "two"])
        #expect(try await task.join() == .exited(0))
    }

    @Test func receiveBytesIntoCopiesTheMessageAndReturnsItsSize() async throws {
        let (left, right) = try Connection.pair()
        defer { left.close(); right.close() }
        try await left.send(bytes: [1, 2, 3])
        var buffer = [UInt8](repeating: 0, count: 8)
        let count = try buffer.withUnsafeMutableBytes { try right.receiveBytes(into: $0) }
        #expect(count == 3)
        #expect(buffer == [1, 2, 3, 0, 0, 0, 0, 0])
        try await left.send(bytes: [9, 8])
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
        defer { raw.deallocate() }
        #expect(try await right.receiveBytes(into: raw) == 2)
        #expect(Array(raw[..<2]) == [9, 8])
    }

    @Test func aMessageLargerThanTheBufferIsAnErrorCarryingItAndNothingIsLost() throws {
        let (left, right) = try Connection.pair()
        defer { left.close(); right.close() }
        try left.send(bytes: Array(0..<10 as Range<UInt8>))
        try left.send(bytes: [42])
        var buffer = [UInt8](repeating: 7, count: 4)
        do {
            _ = try buffer.withUnsafeMutableBytes { try right.receiveBytes(into: $0) }
            Issue.record("ten bytes fit in four")
        } catch let error as ConnectionError {
            #expect(error.code == .bufferTooShort)
            #expect(error.receivedBytes == Array(0..<10))
        }
        #expect(buffer == [7, 7, 7, 7], "the buffer is left as it was")
        #expect(try buffer.withUnsafeMutableBytes { try right.receiveBytes(into: $0) } == 1, "the next message follows")
        #expect(buffer[0] == 42)
    }

    @Test func filenoIsTheReadEndsDescriptorWhileOpen() throws {
        let (left, right) = try Connection.pair()
        let (reader, writer) = try Connection.pair(duplex: false)
        defer { right.close(); reader.close(); writer.close() }
        #expect(try left.fileno == left.readEnd.rawValue)
        #expect(try reader.fileno == reader.readEnd.rawValue)
        #expect(try writer.fileno == writer.writeEnd.rawValue)
        // Readiness on the borrowed number is the connection's: a frame sent makes it readable.
        try right.send(1)
        #expect(try FileDescriptor(rawValue: try left.fileno).waitUntilReadable(timeout: .seconds(5)))
        left.close()
        #expect(throws: ConnectionError.self) { try left.fileno }
    }

    @Test func negativeTimeoutsMeanZeroOnBlockingCalls() throws {
        let (left, right) = try Connection.pair()
        defer { left.close(); right.close() }
        #expect(try left.poll(timeout: .seconds(-1)) == false)
        do {
            _ = try left.receive(Int.self, timeout: .seconds(-1))
            Issue.record("a receive on an empty connection returned")
        } catch {
            #expect(error.code == .timedOut)
        }
        try right.send(5)
        #expect(try left.poll(timeout: .seconds(-1)), "a frame already here is found")
        #expect(try left.receive(Int.self, timeout: .seconds(-1)) == 5)
    }

    @Test func negativeTimeoutsMeanZeroOnAsyncCalls() async throws {
        let (left, right) = try Connection.pair()
        defer { left.close(); right.close() }
        #expect(try await left.poll(timeout: .seconds(-1)) == false)
        do {
            _ = try await left.receive(Int.self, timeout: .seconds(-1))
            Issue.record("a receive on an empty connection returned")
        } catch let error as ConnectionError {
            #expect(error.code == .timedOut)
        }
        #expect(try await Connection.waitForAny([left], timeout: .seconds(-1)).isEmpty)
        #expect(try await Multiprocessing.wait(for: [left], timeout: .seconds(-1)).isEmpty)
        try await right.send(5)
        #expect(try await Connection.waitForAny([left], timeout: .seconds(-1)).count == 1, "a frame already here is found")
        #expect(try await left.receive(Int.self, timeout: .seconds(-1)) == 5)
    }
}
