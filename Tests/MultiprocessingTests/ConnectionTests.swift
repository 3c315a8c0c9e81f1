import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// `Connection`: Python's `Pipe()`. In-process pairs first (values, bytes, poll, timeouts,
/// every error), then a real child (MPTestWorker's `connectionEcho`) given one end at spawn.
@Suite(.serialized) struct ConnectionTests {
    init() { TestWorker.use() }

    struct Reading: Codable, Equatable, Sendable {
        var id: Int
        var name: String
        var value: Double
    }

    static let reading = Reading(id: 123_456, name: "temperature", value: 21.5)

    // Blocking forms, reached from synchronous code (in an async function the async overloads
    // win).
    static func receive<T: Decodable>(_ connection: Connection, _ type: T.Type, timeout: Duration? = nil) throws -> T {
        try connection.receive(type, timeout: timeout)
    }

    static func send<T: Encodable>(_ connection: Connection, _ value: T) throws { try connection.send(value) }

    static func send(_ connection: Connection, bytes: [UInt8]) throws { try connection.send(bytes: bytes) }

    static func receiveBytes(_ connection: Connection) throws -> [UInt8] { try connection.receiveBytes() }

    /// Runs blocking work on a thread of its own, never on the cooperative pool (2 threads
    /// here: two blocked receives or sends would starve every other task).
    static func onThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) -> Task<R, any Error> {
        Task {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
            }
        }
    }

    /// Waits until another task or thread holds `connection`'s receiving side (without
    /// claiming it: a poll here could make that receive fail with `busy`).
    static func waitUntilReceiving(_ connection: Connection) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while !connection.isReceiving {
            guard ContinuousClock.now < deadline else { throw ConnectionError(.timedOut, "nobody started receiving") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Writes raw bytes on `connection`'s pipe, bypassing the framing.
    static func writeRaw(_ connection: Connection, _ bytes: [UInt8]) throws {
        try connection.writeEnd.writeAll(bytes)
    }

    /// The `ConnectionError` thrown by `body`, or nil (recorded as an issue) when none was.
    static func connectionError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> ConnectionError? {
        do {
            try body()
            Issue.record("no error was thrown", sourceLocation: sourceLocation)
        } catch let error as ConnectionError {
            return error
        } catch {
            Issue.record("not a ConnectionError: \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    // MARK: - Values and bytes

    @Test func valuesTravelBothWays() throws {
        let (a, b) = try Connection.pair()
        try a.send(Self.reading)
        #expect(try b.receive(Reading.self) == Self.reading)
        try b.send(["x": 1, "y": 2])
        #expect(try a.receive([String: Int].self) == ["x": 1, "y": 2])
        try a.send("text")
        try a.send(Optional<Int>.none)
        try a.send(MessagePackValue.array([.int(1), .string("two")]))
        #expect(try b.receive(String.self) == "text")
        #expect(try b.receive(Int?.self) == nil)
        #expect(try b.receive(MessagePackValue.self) == .array([.int(1), .string("two")]))
    }

    @Test func bytesTravelAsTheyAre() throws {
        let (a, b) = try Connection.pair()
        try a.send(bytes: [1, 2, 3])
        try a.send(bytes: [UInt8]())
        try a.send(bytes: Data([9, 8]))
        try a.send(bytes: [0, 1, 2, 3, 4][1...2])
        #expect(try b.receiveBytes() == [1, 2, 3])
        #expect(try b.receiveBytes() == [])
        #expect(try b.receiveBytes() == [9, 8])
        #expect(try b.receiveBytes() == [1, 2])
        // A value's frame body is its msgpack encoding, as Python's recv_bytes gives the pickle.
        try a.send(Self.reading)
        #expect(try b.receiveBytes() == MessagePackEncoder().encode(Self.reading))
    }

    @Test func framesThatQueueUpArriveInOrder() throws {
        let (a, b) = try Connection.pair()
        for index in 0..<1_000 { try a.send(index) }   // ~5 KB: fits in the pipe
        for index in 0..<1_000 { #expect(try b.receive(Int.self) == index) }
        #expect(try b.poll() == false)
    }

    @Test func aFrameLargerThanThePipeGoesThroughWhileThePeerReads() async throws {
        let (a, b) = try Connection.pair()
        let payload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let reader = Self.onThread { try Self.receiveBytes(b) }
        try await Self.onThread { try Self.send(a, bytes: payload) }.value
        #expect(try await reader.value == payload)
        // The async send waits for room on the poller, the async receive reads as it comes.
        async let echoed = b.receiveBytes()
        try await a.send(bytes: payload)
        #expect(try await echoed == payload)
        // A value, not raw bytes.
        let values = (0..<20_000).map { "item \($0)" }
        async let decoded = b.receive([String].self)
        try await a.send(values)
        #expect(try await decoded == values)
    }

    @Test func theWireFormatIsTheRuntimesFrames() throws {
        let (a, b) = try Connection.pair()
        try a.send(5)
        try a.send(bytes: [0xc0])
        var bytes = [UInt8](repeating: 0, count: 10)
        #expect(try bytes.withUnsafeMutableBytes { try b.readEnd.readExactly(into: $0) })
        #expect(bytes == [0, 0, 0, 1, 0x05, 0, 0, 0, 1, 0xc0])
    }

    @Test func bothDirectionsAtOnceFromSeveralThreads() async throws {
        let (a, b) = try Connection.pair()
        let count = 20_000   // far more than a pipe holds in either direction
        let echo = Self.onThread {
            for _ in 0..<count { try Self.send(b, try Self.receive(b, Int.self)) }
        }
        let sender = Self.onThread {
            for index in 0..<count { try Self.send(a, index) }
        }
        let receiver = Self.onThread {
            var received: [Int] = []
            for _ in 0..<count { received.append(try Self.receive(a, Int.self)) }
            return received
        }
        try await sender.value
        try await echo.value
        #expect(try await receiver.value == Array(0..<count))
    }

    // MARK: - Poll and timeouts

    @Test func pollLooksWaitsAndSeesAWholeFrameOnly() throws {
        let (a, b) = try Connection.pair()
        #expect(try b.poll() == false)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try b.poll(timeout: .milliseconds(50)) == false)
        #expect(clock.now - start >= .milliseconds(50))
        // Half a frame is not enough.
        try Self.writeRaw(a, [0, 0, 0, 3, 0xa1])
        #expect(try b.poll(timeout: .milliseconds(20)) == false)
        try Self.writeRaw(a, [0x78, 0x79])   // the rest of the body
        #expect(try b.poll())
        #expect(try b.receiveBytes() == [0xa1, 0x78, 0x79])
        try a.send(7)
        #expect(try b.poll(timeout: nil))
        #expect(try b.receive(Int.self) == 7)
    }

    @Test func receiveTimesOutAndKeepsWhatArrived() throws {
        let (a, b) = try Connection.pair()
        #expect(Self.connectionError { _ = try b.receive(Int.self, timeout: .milliseconds(20)) }?.code == .timedOut)
        #expect(Self.connectionError { _ = try b.receive(Int.self, timeout: .zero) }?.code == .timedOut)
        #expect(Self.connectionError { _ = try b.receive(Int.self, timeout: .milliseconds(-1)) }?.code == .timedOut)
        #expect(try b.poll(timeout: .seconds(-1)) == false)
        let frame = try MessagePackEncoder().encode(Self.reading)
        let whole = [0, 0, 0, UInt8(frame.count)] + frame
        try Self.writeRaw(a, Array(whole[..<10]))
        #expect(Self.connectionError { _ = try b.receive(Reading.self, timeout: .milliseconds(20)) }?.code == .timedOut)
        try Self.writeRaw(a, Array(whole[10...]))
        #expect(try b.receive(Reading.self, timeout: .seconds(5)) == Self.reading)
    }

    // MARK: - Errors

    @Test func closeIsEndOfStreamForThePeerAfterWhatWasSent() throws {
        let (a, b) = try Connection.pair()
        try a.send(1)
        try a.send(2)
        a.close()
        a.close()   // again: nothing
        #expect(a.isClosed)
        #expect(try b.receive(Int.self) == 1)
        #expect(try b.poll())
        #expect(try b.receive(Int.self) == 2)
        #expect(try b.poll())   // a receive would not block: it reports the end
        let end = Self.connectionError { _ = try b.receive(Int.self) }
        #expect(end?.code == .peerClosed)
        #expect(end?.message == "the peer closed its end (end of stream at a frame boundary)")
        #expect(Self.connectionError { _ = try b.receiveBytes() }?.code == .peerClosed)
        // Sending to a closed end: EPIPE (SIGPIPE is ignored), not death.
        #expect(Self.connectionError { try b.send(3) }?.code == .peerClosed)
        // Using a closed end.
        #expect(Self.connectionError { try a.send(4) }?.code == .closed)
        #expect(Self.connectionError { _ = try a.receive(Int.self) }?.code == .closed)
        #expect(Self.connectionError { _ = try a.poll() }?.code == .closed)
    }

    /// A blocking receive cannot be interrupted: close() closes the write end at once (the
    /// peer sees end of stream), and the read end when the receive returns, which then throws
    /// `closed`.
    @Test func closeDuringABlockingReceive() async throws {
        let (a, b) = try Connection.pair()
        let pipes = try Self.pipes(a)
        let blocked = Self.onThread { () -> ConnectionError? in
            do { _ = try Self.receive(a, Int.self) } catch { return error as? ConnectionError }
            return nil
        }
        try await Self.waitUntilReceiving(a)
        let writeTarget = try a.writeEnd.target()
        let readTarget = try a.readEnd.target()
        a.close()
        // The peer sees end of stream at once: the write end is closed...
        do {
            _ = try await b.receiveBytes(timeout: .seconds(10))
            Issue.record("a frame came from a closed end")
        } catch let error as ConnectionError {
            #expect(error.code == .peerClosed)
        }
        #expect((try? a.writeEnd.target()) != writeTarget)
        // ...the read end stays open while the receive is in it.
        #expect(try a.readEnd.target() == readTarget)
        b.close()   // end of stream for the blocked receive
        #expect(try await blocked.value?.code == .closed)
        #expect(try Self.openTargets().isDisjoint(with: pipes), "the read end was not closed after the receive")
    }

    @Test func aFrameCutInHalfIsNotAPeerClose() throws {
        for cut in [[0, 0] as [UInt8], [0, 0, 0, 10, 0x95, 0x03]] {
            let (a, b) = try Connection.pair()
            try a.send(1)
            try Self.writeRaw(a, cut)
            a.close()
            #expect(try b.receive(Int.self) == 1)
            let error = Self.connectionError { _ = try b.receive(Int.self) }
            #expect(error?.code == .truncatedFrame, "cut after \(cut.count) bytes")
            #expect(error?.message.contains("ended inside a frame") == true)
            #expect(Self.connectionError { _ = try b.receive(Int.self) }?.code == .truncatedFrame)
        }
    }

    @Test func oversizedFramesAreRefusedBothWays() throws {
        let (a, b) = try Connection.pair(maxFrameSize: 64)
        // Outgoing: refused before anything is written; the end stays usable.
        let big = Self.connectionError { try a.send([UInt8](repeating: 1, count: 100)) }
        #expect(big?.code == .frameTooLarge)
        #expect(Self.connectionError { try a.send(bytes: [UInt8](repeating: 1, count: 65)) }?.code == .frameTooLarge)
        #expect(try b.poll() == false)
        try a.send(bytes: [UInt8](repeating: 1, count: 64))
        #expect(try b.receiveBytes().count == 64)
        // Incoming: a header announcing more than the maximum loses the framing for good.
        try Self.writeRaw(a, [0, 0, 4, 0])
        let error = Self.connectionError { _ = try b.receive(Int.self) }
        #expect(error?.code == .frameTooLarge)
        #expect((error?.underlyingError as? MessagePackError)?.message == "frame declares 1024 bytes, above the maximum of 64")
        try a.send(1)
        #expect(Self.connectionError { _ = try b.receive(Int.self) }?.code == .frameTooLarge)
        #expect(Self.connectionError { _ = try Connection.pair(maxFrameSize: 0) }?.code == .invalidArgument)
    }

    @Test func theWrongTypeFailsThatFrameOnly() throws {
        let (a, b) = try Connection.pair()
        try a.send("not a number")
        try a.send(5)
        let error = Self.connectionError { _ = try b.receive(Int.self) }
        #expect(error?.code == .decodingFailed)
        #expect(error?.underlyingError is DecodingError)
        #expect(try b.receive(Int.self) == 5)
    }

    @Test func oneReceiverAtATime() async throws {
        let (a, b) = try Connection.pair()
        let waiting = Task { try await b.receive(Int.self) }
        try await Self.waitUntilReceiving(b)
        do {
            _ = try await b.poll()
            Issue.record("a second receiver was let in")
        } catch let error as ConnectionError {
            #expect(error.code == .busy)
        }
        // Sending at the same time is fine.
        try await a.send(42)
        #expect(try await waiting.value == 42)
        #expect(try await b.poll() == false)
    }

    // MARK: - Async forms

    @Test func asyncReceiveWaitsOffThePool() async throws {
        let (a, b) = try Connection.pair()
        // More waiters than the pool has threads: none of them blocks one.
        let pairs = try (0..<8).map { _ in try Connection.pair() }
        let waiters = pairs.map { pair in Task { try await pair.1.receive(Int.self) } }
        for pair in pairs { try await Self.waitUntilReceiving(pair.1) }
        try await a.send(Self.reading)
        #expect(try await b.receive(Reading.self, timeout: .seconds(5)) == Self.reading)
        for (index, pair) in pairs.enumerated() { try await pair.0.send(index) }
        for (index, waiter) in waiters.enumerated() { #expect(try await waiter.value == index) }
        try await a.send(bytes: [1, 2])
        #expect(try await b.receiveBytes() == [1, 2])
        #expect(try await b.poll() == false)
        try await a.send(3)
        #expect(try await b.poll(timeout: .seconds(5)))
        #expect(try await b.receive(Int.self) == 3)
    }

    /// Many short waits on the poller in a row, from both ends: no wake-up is lost.
    @Test func asyncPingPong() async throws {
        let (a, b) = try Connection.pair()
        let echo = Task {
            for _ in 0..<2_000 { try await b.send(try await b.receive(Int.self, timeout: .seconds(30))) }
        }
        for index in 0..<2_000 {
            try await a.send(index)
            #expect(try await a.receive(Int.self, timeout: .seconds(30)) == index)
        }
        try await echo.value
    }

    @Test func asyncReceiveTimesOutIsCancelledAndIsWokenByClose() async throws {
        let (a, b) = try Connection.pair()
        do {
            _ = try await b.receive(Int.self, timeout: .milliseconds(30))
            Issue.record("no timeout")
        } catch let error as ConnectionError {
            #expect(error.code == .timedOut)
        }
        let cancelled = Task { try await b.receive(Int.self) }
        try await Self.waitUntilReceiving(b)
        cancelled.cancel()
        do {
            _ = try await cancelled.value
            Issue.record("not cancelled")
        } catch {
            #expect(error is CancellationError)
        }
        // Still usable after a timeout and a cancellation.
        try await a.send(1)
        #expect(try await b.receive(Int.self) == 1)
        // Close from elsewhere wakes a waiting receive.
        let waiting = Task { try await b.receive(Int.self) }
        try await Self.waitUntilReceiving(b)
        b.close()
        do {
            _ = try await waiting.value
            Issue.record("close did not end the wait")
        } catch let error as ConnectionError {
            #expect(error.code == .closed)
        }
    }

    @Test func waitForAnyReturnsTheReadyOnes() async throws {
        let pairs = try (0..<3).map { _ in try Connection.pair() }
        let ends = pairs.map(\.1)
        #expect(try await Connection.waitForAny(ends, timeout: .milliseconds(20)).isEmpty)
        let sender = Task {
            try await Task.sleep(for: .milliseconds(20))
            try await pairs[1].0.send("one")
        }
        let ready = try await Connection.waitForAny(ends, timeout: .seconds(10))
        #expect(ready.map { ObjectIdentifier($0) } == [ObjectIdentifier(ends[1])])
        try await sender.value
        #expect(try await ends[1].receive(String.self) == "one")
        // A peer's end of stream counts as ready (the receive reports it).
        pairs[2].0.close()
        #expect(try await Connection.waitForAny(ends).map { ObjectIdentifier($0) } == [ObjectIdentifier(ends[2])])
    }

    // MARK: - Passing an end to a child

    @Test func labelsAreCheckedAndOnlyAChildInheritsThem() throws {
        let (a, _) = try Connection.pair()
        var options = ProcessOptions()
        #expect(Self.connectionError { try options.pass(a, as: "") }?.code == .invalidArgument)
        #expect(Self.connectionError { try options.pass(a, as: "a:b") }?.code == .invalidArgument)
        #expect(Self.connectionError { try options.pass(a, as: "a,b") }?.code == .invalidArgument)
        try options.pass(a, as: "jobs")
        #expect(try options.descriptorsForSpawn().map(\.label) == ["jobs.read", "jobs.write"])
        #expect(Self.connectionError { try options.pass(a, as: "jobs") }?.code == .invalidArgument)
        a.close()
        #expect(Self.connectionError { try options.pass(a, as: "other") }?.code == .closed)
        let error = Self.connectionError { _ = try Connection.inherited("jobs") }
        #expect(error?.code == .notInherited)
    }

    /// The pipe inodes ("pipe:[1234]") behind a connection's descriptors.
    static func pipes(_ connections: Connection...) throws -> Set<String> {
        Set(try connections.flatMap { [try $0.readEnd.target(), try $0.writeEnd.target()] })
    }

    /// The targets of every descriptor open in this process.
    static func openTargets() throws -> Set<String> {
        Set(try FileDescriptor.openDescriptors().compactMap { try? FileDescriptor(rawValue: $0).target() })
    }

    @Test(arguments: [false, true]) func aChildEchoesOverAConnectionPassedAtSpawn(childUsesAsync: Bool) async throws {
        let (mine, theirs) = try Connection.pair()
        let pipes = try Self.pipes(mine, theirs)
        var options = ProcessOptions(name: "echo")
        try options.pass(theirs, as: "echo")
        let child: ChildProcess
        do {
            child = try await ChildProcess.start(TestEntries.connectionEcho, .init(useAsync: childUsesAsync), options: options)
        } catch {
            theirs.close()
            throw error
        }
        theirs.close()   // the child has its copy; ours would hide the child's death

        var sent = 0
        for index in 0..<100 {
            let value = Reading(id: index, name: "n\(index)", value: Double(index) / 4)
            try Self.send(mine, value)
            #expect(try Self.receive(mine, Reading.self, timeout: .seconds(30)) == value)
            sent += 1
        }
        for index in 0..<100 {
            try await mine.send([index, -index])
            #expect(try await mine.receive([Int].self, timeout: .seconds(30)) == [index, -index])
            sent += 1
        }
        try Self.send(mine, bytes: [UInt8](repeating: 7, count: 1 << 20))   // more than the pipe holds
        #expect(try await mine.receiveBytes(timeout: .seconds(30)).count == 1 << 20)
        sent += 1

        mine.close()   // the child sees end of stream and returns the count
        #expect(try await child.result(of: TestEntries.connectionEcho) == sent)
        #expect(try await child.join(timeout: .seconds(30)) == .exited(0))
        let stillOpen = try Self.openTargets().intersection(pipes)
        #expect(stillOpen.isEmpty, "descriptors of the connection left open: \(stillOpen)")
    }

    @Test func aChildThatDiesIsEndOfStreamHere() async throws {
        let (mine, theirs) = try Connection.pair()
        var options = ProcessOptions()
        try options.pass(theirs, as: "echo")
        let child = try await ChildProcess.start(TestEntries.connectionEcho, .init(), options: options)
        theirs.close()
        try await mine.send(1)
        #expect(try await mine.receive(Int.self, timeout: .seconds(30)) == 1)
        child.kill()
        do {
            _ = try await mine.receive(Int.self, timeout: .seconds(30))
            Issue.record("a frame came from a killed child")
        } catch let error as ConnectionError {
            #expect(error.code == .peerClosed)
        }
        #expect(try await child.join(timeout: .seconds(30)) == .signaled(.kill))
        // Its read end is gone too: a send is a broken pipe.
        do {
            try await mine.send(2)
            Issue.record("a send to a dead child succeeded")
        } catch let error as ConnectionError {
            #expect(error.code == .peerClosed)
        }
        mine.close()
    }
}
