import Foundation
import Logging
import MPTestEntries
import MessagePack
import Synchronization
import Testing
@testable import Multiprocessing

/// Peers written to misbehave (Protocols/python/misbehaving_worker.py) beside a well-behaved
/// neighbour that is asked round trips the whole time (issue 16, item 4). Whatever the bad
/// peer does, the supervisor survives, the bad peer alone is disconnected (and the log says
/// why) or refused, and every round trip of the neighbour is answered.
@Suite(.serialized, .enabled(if: PythonWorker.unavailableReason == nil,
                             Comment(rawValue: PythonWorker.unavailableReason ?? "")))
struct MisbehavingPeerTests {
    init() { TestWorker.use() }

    static func startBadPeer() async throws -> ChildProcess {
        try await ChildProcess.start(executable: "/usr/bin/env", arguments: ["python3", PythonPeerRefusalTests.script],
                                     options: .init(name: "python-misbehaving"))
    }

    /// The Python echo worker, asked one round trip after another until the body ends; then
    /// every one of them must have been answered with its own value, and one more must be.
    static func withNeighbour(_ body: (ChildProcess) async throws -> Void) async throws {
        let neighbour = try await PythonWorker.start()
        let answered = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        let asker = Task {
            var next = 0
            while !stop.load(ordering: .relaxed) {
                next += 1
                do {
                    let back = try await neighbour.request(next, as: Int.self, timeout: .seconds(60))
                    if back == next { answered.add(1, ordering: .relaxed) } else { failures.withLock { $0.append("\(next) came back as \(back)") } }
                } catch {
                    failures.withLock { $0.append("\(next): \(error)") }
                }
            }
        }
        do {
            try await body(neighbour)
        } catch {
            stop.store(true, ordering: .relaxed)
            await asker.value
            neighbour.kill()
            _ = try? await neighbour.join()
            throw error
        }
        stop.store(true, ordering: .relaxed)
        await asker.value
        #expect(failures.withLock { $0 }.isEmpty, "the neighbour's round trips: \(failures.withLock { $0.prefix(5) })")
        #expect(answered.load(ordering: .relaxed) > 0)
        #expect(try await neighbour.request(-1, as: Int.self, timeout: .seconds(30)) == -1)
        neighbour.closeMailbox()
        #expect(try await neighbour.join(timeout: .seconds(30)) == .exited(0))
    }

    /// Asks `peer` to misbehave with `what` (and `extra` fields) and returns the answer.
    static func misbehave(_ peer: ChildProcess, _ what: String, _ extra: [String: MessagePackValue] = [:],
                          timeout: Duration = .seconds(60)) async throws -> MessagePackValue {
        var request: [String: MessagePackValue] = ["misbehave": .string(what)]
        request.merge(extra) { $1 }
        return try await peer.request(request, as: MessagePackValue.self, timeout: timeout)
    }

    /// Ends a peer that stayed connected: it still answers, then exits 0.
    static func finish(_ peer: ChildProcess) async throws {
        #expect(try await peer.request(5, as: Int.self, timeout: .seconds(30)) == 5, "the peer is still connected")
        peer.closeMailbox()
        #expect(try await peer.join(timeout: .seconds(30)) == .exited(0))
    }

    // MARK: broken framing: the peer is disconnected, alone

    @Test(arguments: [
        ("garbage", "above the maximum"),
        ("oversize", "sent a frame of 2147483647 bytes, above the maximum"),
        ("truncated", "closed its channel inside a frame (14 bytes of it arrived)"),
    ])
    func brokenFramingDisconnectsThatPeerAloneAndSaysWhy(what: String, reason: String) async throws {
        let saved = Multiprocessing.logger
        defer { Multiprocessing.logger = saved }
        let log = LogCapture()
        Multiprocessing.logger = Logger(label: "multiprocessing") { _ in log.handler() }
        try await Self.withNeighbour { _ in
            let bad = try await Self.startBadPeer()
            do {
                _ = try await Self.misbehave(bad, what)
                Issue.record("\(what) was answered")
            } catch let error as ProcessError {
                #expect(error.code == .disconnected, "\(error)")
                #expect(error.description.contains(reason), "\(error)")
            }
            _ = try await bad.join(timeout: .seconds(30))
            try await PythonWorker.expectGone(bad)
            let reported = log.lines.withLock { $0 }.filter { $0.level == .error && $0.message.contains("python-misbehaving") }
            #expect(reported.contains { $0.message.contains("disconnected: it") && $0.message.contains(reason) },
                    "\(reported.map(\.message))")
        }
    }

    // MARK: lies: refused or dropped, the peer stays

    @Test func anEnvelopeOfTheRightLengthButWrongTypesIsRefusedAndThePeerStays() async throws {
        try await Self.withNeighbour { _ in
            let bad = try await Self.startBadPeer()
            #expect(try await Self.misbehave(bad, "wrong-envelope") == "real")
            try await Self.finish(bad)
        }
    }

    @Test func poolResultsForATaskNeverGivenAreDroppedAndThePoolIsUndisturbed() async throws {
        let saved = Multiprocessing.logger
        defer { Multiprocessing.logger = saved }
        let log = LogCapture()
        Multiprocessing.logger = Logger(label: "multiprocessing") { _ in log.handler() }
        try await Self.withNeighbour { _ in
            let pool = try await ProcessPool(PoolEntries.square, workers: 2)
            let bad = try await Self.startBadPeer()
            async let squares = pool.map(Array(0..<2000), chunkSize: 10)
            #expect(try await Self.misbehave(bad, "foreign-results") == "real")
            #expect(try await squares == (0..<2000).map { $0 * $0 })
            #expect(log.lines.withLock { $0 }.contains { $0.message == "[pool] python-misbehaving sent pool results but is no pool's worker: dropped" })
            pool.close()
            await pool.join()
            try await Self.finish(bad)
        }
    }

    @Test func aQueueReportForItemsThePeerDoesNotHoldMarksNothingDone() async throws {
        try await Self.withNeighbour { _ in
            let tasks = try JoinableQueue<Int>()
            for value in 0..<5 { try await tasks.put(value) }
            let got = try SimpleQueue<Int>()
            // A consumer holds two items, not done.
            let consumer = try await ChildProcess.start(QueueEntries.getAndHold, .init(joinable: tasks, got: got, count: 2))
            for _ in 0..<2 { _ = try await got.get() }
            try await waitUntil("the consumer's items are counted") { try await tasks.unfinishedCount == 5 }
            let bad = try await Self.startBadPeer()
            #expect(try await Self.misbehave(bad, "report-unheld", ["queue": .uint(tasks.core.handle.id)]) == "real")
            _ = try await tasks.count   // the report was handled before this answer
            #expect(try await tasks.unfinishedCount == 5, "a report from a peer that holds nothing marks nothing done")
            consumer.kill()
            _ = try await consumer.join()
            try await Self.finish(bad)
            // What the consumer held comes back, all of it.
            var rest: [Int] = []
            for _ in 0..<5 {
                rest.append(try await tasks.get(timeout: .seconds(30)))
                try tasks.taskDone()
            }
            #expect(rest.sorted() == [0, 1, 2, 3, 4])
        }
    }

    // MARK: floods

    /// 20 MiB of messages written without reading anything: the supervisor holds the flooder
    /// to the neighbour's budget (its writes wait), and the neighbour's round trips, which go
    /// through the same supervisor, are answered all along.
    @Test func aPeerFloodingANeighbourWithoutReadingIsHeldToItsBudgetAndTheNeighbourAnswers() async throws {
        try await Self.withNeighbour { neighbour in
            let bad = try await Self.startBadPeer()
            #expect(try await Self.misbehave(bad, "flood", ["target": .uint(neighbour.id), "count": .uint(20_000)],
                                             timeout: .seconds(180)) == "real")
            try await Self.finish(bad)
        }
    }
}
