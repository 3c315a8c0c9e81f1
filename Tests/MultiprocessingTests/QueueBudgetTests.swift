import Logging
import MPTestEntries
import Synchronization
import Testing
@testable import Multiprocessing

/// A queue's byte budget: the supervisor (in the parent, the user's main process) holds at most
/// about `byteBudget` bytes of items per queue, unbounded queues included; past it puts wait, and
/// the memory comes back when the queue drains.
@Suite(.serialized) struct QueueBudgetTests {
    init() { TestWorker.use() }

    static let mebibyte = 1 << 20

    /// Resident bytes of this process after glibc gave its free heap back (`malloc_trim`: glibc
    /// otherwise keeps freed memory, and RSS would not show a drained queue's release).
    func resident() throws -> Int {
        ProcessMemory.trimHeap()
        return try #require(ProcessMemory.residentBytes())
    }

    /// A producer child putting 4 KiB items as fast as it can into an unbounded queue nobody
    /// reads: the queue (and the parent's RSS) stays within the budget and a margin, the producer
    /// stalls, and after the queue is drained the RSS falls back. The margin (16 MiB of items,
    /// 32 MiB of RSS) covers what the producer sends before the throttle reaches it, the read
    /// buffers in flight, and the test process's own growth.
    @Test func anUnboundedQueueHoldsAtMostItsByteBudgetAndGivesItBackWhenDrained() async throws {
        let budget = 8 * Self.mebibyte
        let itemSize = 4096
        let total = 16 * budget / itemSize           // 128 MiB: far past the budget
        let queue = try Queue<String>(byteBudget: budget)
        let before = try resident()
        let producer = try await ChildProcess.start(QueueEntries.produceBlobs, QueueEntries.ProduceBlobs(queue: queue, count: total, size: itemSize))
        let heldBound = (budget + 16 * Self.mebibyte) / itemSize
        let residentBound = budget + 32 * Self.mebibyte

        // Until the queue holds its budget, then for a while after: never past the bounds.
        var filled = false
        var samples = 0
        while samples < 100 {
            let count = try await queue.count
            if count * itemSize >= budget { filled = true }
            if filled { samples += 1 }
            #expect(count <= heldBound, "the queue holds \(count) items of \(itemSize) bytes, past its budget of \(budget) bytes and the margin")
            let grown = try resident() - before
            #expect(grown <= residentBound, "the parent's RSS grew by \(grown) bytes with a byte budget of \(budget)")
            if count > heldBound || grown > residentBound { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        // The producer is stalled: it put fewer than its items, the rest wait for room.
        #expect(try await queue.count < total)

        for _ in 0..<total { _ = try await queue.get() }
        #expect(try await producer.result(of: QueueEntries.produceBlobs) == total)
        let after = try resident() - before
        #expect(after <= 32 * Self.mebibyte, "the parent's RSS stayed \(after) bytes above where it was once the queue drained")
        queue.shutdown()
    }

    /// The budget is the queue's: configurable per queue, travels in its handle, and a put past
    /// it with `timeout: .zero` throws `full` as on a full bounded queue (SimpleQueue's put,
    /// which cannot wait, throws `full` too). Passing it is logged once, as a warning naming
    /// the queue in its metadata.
    @Test func theByteBudgetIsConfigurableAndAPutPastItWithoutWaitingIsFull() async throws {
        let saved = Multiprocessing.logger
        defer { Multiprocessing.logger = saved }
        let log = LogCapture()
        Multiprocessing.logger = Logger(label: "multiprocessing") { _ in log.handler() }
        #expect(try Queue<Int>().byteBudget == 64 * Self.mebibyte)
        #expect(throws: QueueError.self) { try Queue<Int>(byteBudget: 0) }
        let queue = try Queue<String>(byteBudget: 64 << 10)
        #expect(queue.byteBudget == 64 << 10)
        let blob = String(repeating: "q", count: 4096)
        // 32 puts of 4 KiB (128 KiB): the first 16 are taken (the budget is not passed before
        // them); later ones may be refused once the supervisor has seen the budget passed (the
        // parent's puts reach it on its loop, which may run behind).
        var accepted = 0
        do {
            while accepted < 32 {
                try await queue.put(blob, timeout: .zero)
                accepted += 1
            }
        } catch let error as QueueError where error.code == .full {}
        #expect(accepted >= 16)
        _ = try await queue.count     // the supervisor has seen every put
        do {
            try await queue.put(blob, timeout: .zero)
            Issue.record("a put past the byte budget with timeout .zero did not throw")
        } catch let error as QueueError {
            #expect(error.code == .full)
        }
        let warnings = log.lines.withLock { $0 }.filter { $0.metadata["queue"] == "\(queue.core.handle.id)" }
        #expect(warnings.count == 1)
        #expect(warnings.first?.level == .warning)
        #expect(warnings.first?.message.hasPrefix("[supervisor] queue \(queue.core.handle.id): ") == true)
        #expect(warnings.first?.message.hasSuffix("past its byte budget of 65536 bytes; puts wait") == true)
        for _ in 0..<accepted { _ = try await queue.get() }
        try await queue.put(blob, timeout: .seconds(30))   // drained below half: room again
        #expect(try await queue.get() == blob)
        queue.shutdown()

        // The same for SimpleQueue's put, which cannot wait: the 16th item passes the budget
        // (16 x 4,099 encoded bytes > 64 KiB), so the first 16 are always taken; once the
        // supervisor has seen the 16th its throttle can reach this process at any time (its
        // loop runs beside this one), so later puts may be refused before the loop ends.
        let simple = try SimpleQueue<String>(byteBudget: 64 << 10)
        var taken = 0
        do {
            while taken < 32 {
                try simple.put(blob)
                taken += 1
            }
        } catch let error as QueueError where error.code == .full {}
        #expect(taken >= 16)
        _ = try await simple.isEmpty   // the supervisor has seen every put, and said it is past its budget
        #expect { try simple.put(blob) } throws: { ($0 as? QueueError)?.code == .full }
        let joinable = try JoinableQueue<Int>(maxsize: 3, byteBudget: 1 << 20)
        #expect(joinable.byteBudget == 1 << 20)
        simple.shutdown()
        joinable.shutdown()
    }
}
