import Foundation
import MPTestEntries
import Synchronization
import Testing
@testable import Multiprocessing

/// Queue, SimpleQueue and JoinableQueue between real processes: Python's semantics (blocking,
/// timeouts, non-blocking, maxsize), close and drain, ordering, prefetch returning from dead
/// consumers, at-least-once delivery of a JoinableQueue under SIGKILL, and bad input.
@Suite(.serialized) struct QueueTests {
    typealias Tagged = QueueEntries.Tagged

    init() { TestWorker.use() }

    /// Polls `condition` (never a timed assertion: the loop only gives up after a long time).
    func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<3_000 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("never became true: \(what)")
    }

    /// Waits until the supervisor has forgotten `child` (its channel was read to the end and
    /// what it held went back to its queues).
    func waitUntilGone(_ child: ChildProcess) async throws {
        try await child.join()
        let supervisor = try Runtime.current.supervisor()
        try await waitUntil("\(child.name) is forgotten") { supervisor.record(child.id) == nil }
    }

    func status<E>(_ queue: Queue<E>) async throws -> QueueWire.QueueStatus { try await queue.core.client.status() }

    // MARK: the parent's own operations

    @Test func putAndGetAreFirstInFirstOutWithNonBlockingAndTimedForms() async throws {
        let queue = try Queue<String>()
        #expect(try await queue.isEmpty)
        do {
            _ = try await queue.getNowait()
            Issue.record("getNowait on an empty queue returned")
        } catch let error as QueueError {
            #expect(error.code == .empty)
        }
        do {
            _ = try await queue.get(timeout: .milliseconds(30))
            Issue.record("a get on an empty queue returned")
        } catch let error as QueueError {
            #expect(error.code == .empty)
        }
        for word in ["a", "b", "c"] { try await queue.put(word) }
        #expect(try await queue.count == 3)
        #expect(try await queue.getNowait() == "a")
        #expect(try await queue.get(timeout: .seconds(30)) == "b")
        #expect(try await queue.get() == "c")
        #expect(try await queue.count == 0)
    }

    @Test func aSimpleQueuePutsWithoutWaitingAndEndsWhenShutDown() async throws {
        let queue = try SimpleQueue<String>()
        #expect(try await queue.isEmpty)
        try queue.put("a")             // synchronous: an unbounded queue never waits
        try queue.put("b")
        #expect(try await !queue.isEmpty)
        #expect(try await queue.get() == "a")
        queue.shutdown()
        #expect(throws: QueueError(.shutDown, "queue \(queue.core.handle.id) was shut down")) { try queue.put("c") }
        var rest: [String] = []
        for try await item in queue { rest.append(item) }
        #expect(rest == ["b"])

        let closed = try SimpleQueue<String>()
        try closed.put("x")
        closed.close()        // this process only: put and get throw `closed`, isEmpty answers
        #expect { try closed.put("y") } throws: { ($0 as? QueueError)?.code == .closed }
        await #expect { _ = try await closed.get() } throws: { ($0 as? QueueError)?.code == .closed }
        #expect(try await !closed.isEmpty)
    }

    /// A negative timeout means zero (do not wait) in every queue wait, as in Python: never an error.
    @Test func aNegativeTimeoutMeansZero() async throws {
        let queue = try Queue<Int>(maxsize: 1)
        await #expect { _ = try await queue.get(timeout: .seconds(-1)) } throws: { ($0 as? QueueError)?.code == .empty }
        try await queue.put(1, timeout: .milliseconds(-5))          // room: taken without waiting
        await #expect { try await queue.put(2, timeout: .milliseconds(-5)) } throws: { ($0 as? QueueError)?.code == .full }
        #expect(try await queue.get(timeout: .seconds(-1)) == 1)   // there: returned
        let joinable = try JoinableQueue<Int>()
        await #expect { _ = try await joinable.get(timeout: .nanoseconds(-1)) } throws: { ($0 as? QueueError)?.code == .empty }
    }

    /// Python's `close()`: this process puts and gets no more (`closed`, Python's ValueError);
    /// `count`, `isEmpty` and `isFull` still answer, and another process goes on unaffected.
    @Test func closeEndsThisProcesssPutsAndGetsOnly() async throws {
        let queue = try Queue<Tagged>(maxsize: 10)
        try await queue.put(Tagged(producer: 0, sequence: 0))
        queue.close()
        queue.close()     // again: nothing
        await #expect { try await queue.put(Tagged(producer: 0, sequence: 1)) } throws: { ($0 as? QueueError)?.code == .closed }
        await #expect { _ = try await queue.get() } throws: { error in
            guard let error = error as? QueueError else { return false }
            return error.code == .closed && error.message.contains("closed in this process")
        }
        #expect(try await queue.count == 1)
        #expect(try await !queue.isEmpty)
        #expect(try await !queue.isFull)
        // A worker's puts through the same queue are not affected.
        #expect(try await ChildProcess.run(QueueEntries.produce, .init(queue: queue, producer: 1, count: 3)) == 3)
        #expect(try await queue.count == 4)
        // Nor are a worker's gets: it drains the queue once it is shut down.
        let consumer = try await ChildProcess.start(QueueEntries.consumeAll, queue)
        queue.shutdown()      // still allowed after close: ends the consumer's loop
        #expect(try await consumer.value.count == 4)
        #expect(try await queue.isEmpty)
    }

    /// A get waiting in this process when it closes its handle ends with `closed` (whether it
    /// was already waiting or meets the close first); the queue goes on for the others.
    @Test func closeEndsThisProcesssWaitingGet() async throws {
        let queue = try Queue<Tagged>()
        let waiting = Task { try await queue.get() }
        queue.close()
        await #expect { _ = try await waiting.value } throws: { ($0 as? QueueError)?.code == .closed }
        #expect(try await ChildProcess.run(QueueEntries.produce, .init(queue: queue, producer: 1, count: 2)) == 2)
        #expect(try await queue.count == 2)
    }

    /// `shutdown()` (Python 3.13's `Queue.shutdown`): puts everywhere throw `shutDown`, a waiting
    /// put too; `count` reports what is left and `isEmpty` is true only once nothing is; gets
    /// drain it, then throw `shutDown`.
    @Test func shutdownRefusesPutsAndDrainsWhatIsLeft() async throws {
        let queue = try Queue<Int>(maxsize: 2)
        try await queue.put(1)
        try await queue.put(2)
        let waitingPut = Task { try await queue.put(3) }          // full: waits (or meets the shutdown)
        queue.shutdown()
        await #expect { try await waitingPut.value } throws: { ($0 as? QueueError)?.code == .shutDown }
        await #expect { try await queue.put(4, timeout: .zero) } throws: { ($0 as? QueueError)?.code == .shutDown }
        #expect(try await queue.count == 2)
        #expect(try await !queue.isEmpty)
        #expect(try await queue.isFull)
        #expect(try await queue.get() == 1)
        #expect(try await queue.get() == 2)
        #expect(try await queue.count == 0)
        #expect(try await queue.isEmpty)
        await #expect { _ = try await queue.get() } throws: { ($0 as? QueueError)?.code == .shutDown }
    }

    /// `shutdown(immediate: true)` drops what is queued: `count` 0, `isEmpty`, gets throw at once;
    /// on a JoinableQueue the dropped items count as done, so `join()` returns once the items
    /// already got are marked done.
    @Test func anImmediateShutdownDropsWhatIsLeftAndJoinReturns() async throws {
        let queue = try Queue<Int>()
        for item in 0..<3 { try await queue.put(item) }
        queue.shutdown(immediate: true)
        #expect(try await queue.count == 0)
        #expect(try await queue.isEmpty)
        await #expect { _ = try await queue.get() } throws: { ($0 as? QueueError)?.code == .shutDown }

        let tasks = try JoinableQueue<Int>()
        for item in 0..<5 { try await tasks.put(item) }
        #expect(try await tasks.get() == 0)
        tasks.shutdown()
        tasks.shutdown(immediate: true)   // after a plain shutdown: still drops
        #expect(try await tasks.unfinishedCount == 1, "the item got and not yet marked done")
        try tasks.taskDone()
        try await tasks.join()
        #expect(try await tasks.isEmpty)
    }

    @Test func badArgumentsAreTypedErrors() async throws {
        #expect(throws: QueueError.self) { try Queue<Int>(maxsize: -1) }
        // CPython gh-79423 drops an oversized item silently; here put refuses it.
        let bytes = try Queue<Data>()
        do {
            try await bytes.put(Data(count: 64 << 20))
            Issue.record("an item above the largest frame was put")
        } catch let error as QueueError {
            #expect(error.code == .itemTooLarge)
            #expect(error.message.contains("bytes"))
        }
        #expect(try await bytes.count == 0)
        // A handle of one kind does not read as another.
        let joinable = try JoinableQueue<Int>()
        let encoded = try MessagePackEncoder().encode(joinable)
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(Queue<Int>.self, from: encoded) }
        #expect(try MessagePackDecoder().decode(JoinableQueue<Int>.self, from: encoded).core.handle == joinable.core.handle)
        #expect(throws: QueueError.self) { try joinable.taskDone() }
    }

    @Test func aShutDownQueueRefusesPutsAndEndsItsConsumersOnceDrained() async throws {
        let queue = try Queue<Tagged>()
        let consumer = try await ChildProcess.start(QueueEntries.consumeAll, queue)
        for sequence in 0..<5 { try await queue.put(Tagged(producer: 0, sequence: sequence)) }
        queue.shutdown()
        do {
            try await queue.put(Tagged(producer: 0, sequence: 5))
            Issue.record("a put after shutdown succeeded")
        } catch let error as QueueError {
            #expect(error.code == .shutDown)
        }
        let got = try await consumer.result(of: QueueEntries.consumeAll)
        #expect(got == (0..<5).map { Tagged(producer: 0, sequence: $0) })
        try await consumer.join()
        do {
            _ = try await queue.get()
            Issue.record("a get on a shut-down, drained queue returned")
        } catch let error as QueueError {
            #expect(error.code == .shutDown)
        }
        var more = 0
        for try await _ in queue { more += 1 }
        #expect(more == 0)
    }

    @Test func maxsizeMakesPutsWaitAndNonBlockingPutsFail() async throws {
        let queue = try Queue<Int>(maxsize: 2)
        try await queue.put(1)
        try await queue.put(2)
        #expect(try await queue.isFull)
        await #expect(throws: QueueError.self) { try await queue.putNowait(3) }
        do {
            try await queue.put(3, timeout: .milliseconds(30))
            Issue.record("a put into a full queue returned")
        } catch let error as QueueError {
            #expect(error.code == .full)
        }
        // A put that waits completes once a consumer (another process) takes an item.
        let blocked = Task { try await queue.put(3) }
        try await waitUntil("the third put waits") { try await status(queue).count == 2 }
        let consumer = try await ChildProcess.start(QueueEntries.getOne, queue)
        #expect(try await consumer.result(of: QueueEntries.getOne) == 1)
        try await blocked.value
        try await waitUntilGone(consumer)
        #expect(try await queue.count == 2)
        #expect(try await queue.get() == 2)
        #expect(try await queue.get() == 3)
    }

    @Test func aWorkerProducerWaitsForRoom() async throws {
        let queue = try Queue<Tagged>(maxsize: 3)
        let producer = try await ChildProcess.start(QueueEntries.produce, .init(queue: queue, producer: 1, count: 40))
        for sequence in 0..<40 {
            let count = try await queue.count
            #expect(count <= 3, "never more than maxsize items")
            #expect(try await queue.get() == Tagged(producer: 1, sequence: sequence))
        }
        #expect(try await producer.result(of: QueueEntries.produce) == 40)
        try await producer.join()
    }

    @Test func cancelledWaitsLoseNothing() async throws {
        let queue = try Queue<Int>(maxsize: 1)
        let waiting = Task { try await queue.get() }
        try await waitUntil("the get waits") { try await status(queue).waiting == 1 }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        try await queue.put(1)
        #expect(try await queue.get(timeout: .seconds(30)) == 1, "the item went to nobody else")

        try await queue.put(2)
        let blocked = Task { try await queue.put(3) }
        try await Task.sleep(for: .milliseconds(20))
        blocked.cancel()
        await #expect(throws: CancellationError.self) { try await blocked.value }
        #expect(try await queue.get() == 2)
        #expect(try await queue.count == 0, "the cancelled put did not go in")
    }

    @Test func aCancelledJoinThrowsAndTheQueueStaysUsable() async throws {
        let tasks = try JoinableQueue<Int>()
        try await tasks.put(1)
        let joining = Task { try await tasks.join() }
        try await Task.sleep(for: .milliseconds(20))
        joining.cancel()
        await #expect(throws: CancellationError.self) { try await joining.value }
        #expect(try await tasks.get() == 1)
        try tasks.taskDone()
        try await tasks.join()
    }

    // MARK: workers

    @Test func aWorkerSeesTheSameSemantics() async throws {
        let queue = try Queue<Int>()
        let outcomes = try await ChildProcess.run(QueueEntries.probe, queue)
        #expect(outcomes == [
            "getNowaitEmpty": "empty", "getTimeoutEmpty": "empty", "negativeTimeout": "empty",
            "put": "ok", "count": "ok:1", "getNowait": "ok:7", "putTooLarge": "itemTooLarge",
            "fullFirst": "ok", "fullNowait": "full", "fullTimeout": "full", "fullNegativeTimeout": "full",
            "putAfterClose": "closed", "getAfterClose": "closed",
            "countAfterClose": "ok:1", "isEmptyAfterClose": "ok:false", "isFullAfterClose": "ok:true",
            "putAfterShutdown": "shutDown", "countAfterShutdown": "ok:2", "isEmptyAfterShutdown": "ok:false",
            "getAfterShutdown": "ok:1", "getAfterShutdownAgain": "ok:2", "getAfterShutdownDrained": "shutDown",
            "isEmptyAfterShutdownDrained": "ok:true",
            "countAfterImmediateShutdown": "ok:0", "isEmptyAfterImmediateShutdown": "ok:true",
            "getAfterImmediateShutdown": "shutDown",
        ])
        // The worker closed its handle only: the parent still puts and gets, and finds the 9 it put.
        try await queue.put(10)
        #expect(try await queue.get() == 9)
        #expect(try await queue.get() == 10)
    }

    @Test func putsFromAnotherThreadOfAWorkerLeaveWhileItsLoopWaits() async throws {
        let queue = try Queue<Int>()
        let ack = try Queue<Int>()
        let worker = try await ChildProcess.start(QueueEntries.putDetached, .init(queue: queue, ack: ack))
        for expected in 0..<3 { #expect(try await queue.get() == expected) }
        try await ack.put(7)
        #expect(try await worker.result(of: QueueEntries.putDetached) == 7)
        try await worker.join()
    }

    @Test func aWorkersCancelledGetLosesNothing() async throws {
        let queue = try Queue<Int>()
        #expect(try await ChildProcess.run(QueueEntries.cancelledGet, queue) == 99)
        #expect(try await queue.count == 0)
    }

    @Test func aWorkerJoinsAJoinableQueueTheParentWorksOff() async throws {
        let tasks = try JoinableQueue<Int>()
        let producer = try await ChildProcess.start(QueueEntries.putAndJoin, .init(queue: tasks, count: 50))
        for expected in 0..<50 {
            #expect(try await tasks.get() == expected)
            try tasks.taskDone()
        }
        #expect(try await producer.result(of: QueueEntries.putAndJoin) == 0, "join returned once all 50 were done")
        try await producer.join()
    }

    @Test func aBoundedQueueGrantsCreditButNeverHoldsMoreThanMaxsize() async throws {
        let queue = try Queue<Tagged>(maxsize: 200)
        let producer = try await ChildProcess.start(QueueEntries.produce, .init(queue: queue, producer: 2, count: 3_000))
        var largest = 0
        for sequence in 0..<3_000 {
            if sequence % 100 == 0 { largest = max(largest, try await queue.count) }
            #expect(try await queue.get() == Tagged(producer: 2, sequence: sequence))
        }
        #expect(largest <= 200)
        #expect(try await producer.result(of: QueueEntries.produce) == 3_000)
        try await producer.join()
    }

    @Test func manyProducersAndConsumersKeepEachProducersOrder() async throws {
        let queue = try Queue<Tagged>()
        var consumers: [ChildProcess] = []
        for _ in 0..<3 { consumers.append(try await ChildProcess.start(QueueEntries.consumeAll, queue)) }
        var producers: [ChildProcess] = []
        for producer in 0..<3 { producers.append(try await ChildProcess.start(QueueEntries.produce, .init(queue: queue, producer: producer, count: 3_000))) }
        for producer in producers { #expect(try await producer.result(of: QueueEntries.produce) == 3_000) }
        queue.shutdown()
        var all: [Tagged] = []
        for consumer in consumers {
            let got = try await consumer.result(of: QueueEntries.consumeAll)
            for producer in 0..<3 {
                let sequence = got.filter { $0.producer == producer }.map(\.sequence)
                #expect(sequence == sequence.sorted(), "consumer \(consumer.id) got producer \(producer)'s items in order")
            }
            all += got
        }
        #expect(all.count == 9_000)
        #expect(Set(all).count == 9_000, "each item once")
        for process in producers + consumers { try await process.join() }
    }

    @Test func waitingConsumersAreServedInTurn() async throws {
        let queue = try Queue<Int>()
        let first = try await ChildProcess.start(QueueEntries.getOne, queue)
        let second = try await ChildProcess.start(QueueEntries.getOne, queue)
        try await waitUntil("both consumers wait") { try await status(queue).waiting == 2 }
        try await queue.put(10)
        try await queue.put(20)
        let got = [try await first.result(of: QueueEntries.getOne), try await second.result(of: QueueEntries.getOne)]
        #expect(got == [10, 20], "the consumer that waited first got the first item, the other the second")
        try await first.join()
        try await second.join()
    }

    @Test func aHandleTravelsThroughAQueue() async throws {
        let inner = try Queue<Int>()
        let outer = try Queue<Queue<Int>>()
        let relay = try await ChildProcess.start(QueueEntries.relay, outer)
        try await outer.put(inner)
        #expect(try await inner.get() == 42)
        #expect(try await relay.result(of: QueueEntries.relay) == 42)
        try await relay.join()
    }

    @Test func aSharedValueHandleSentThroughAQueueIsUsableByTheReceiver() async throws {
        let counter = try SharedValue<Int>(37)
        let values = try Queue<SharedValue<Int>>()
        let worker = try await ChildProcess.start(QueueEntries.bumpShared, values)
        try await values.put(counter)
        #expect(try await worker.result(of: QueueEntries.bumpShared) == 42)
        #expect(try counter.load() == 42, "the worker changed the same memory")
        try await worker.join()
    }

    // MARK: consumers that die

    @Test func aConsumerKilledWhileWaitingLosesNothing() async throws {
        let queue = try Queue<Int>()
        let consumer = try await ChildProcess.start(QueueEntries.getOne, queue)
        try await waitUntil("the consumer waits") { try await status(queue).waiting == 1 }
        consumer.kill()
        try await waitUntilGone(consumer)
        try await queue.put(5)
        #expect(try await queue.get() == 5)
    }

    @Test func itemsPrefetchedByAKilledConsumerReturnToTheHead() async throws {
        let queue = try Queue<Int>()
        for item in 0..<100 { try await queue.put(item) }
        let got = try SimpleQueue<Int>()
        let consumer = try await ChildProcess.start(QueueEntries.getAndHold, .init(plain: queue, got: got, count: 10))
        for expected in 0..<10 { #expect(try await got.get() == expected) }
        // count: the items no get returned, the ones prefetched by the consumer included.
        try await waitUntil("the consumer's gets are reported") { try await queue.count == 90 }
        consumer.kill()
        try await waitUntilGone(consumer)
        var rest: [Int] = []
        for _ in 0..<90 { rest.append(try await queue.get()) }
        #expect(rest == Array(10..<100), "prefetched items first, in order; the 10 it got are consumed")
        #expect(try await queue.count == 0)
    }

    @Test func aJoinableItemGotButNotDoneIsDeliveredAgainFirst() async throws {
        let tasks = try JoinableQueue<Int>()
        for item in 0..<100 { try await tasks.put(item) }
        let got = try SimpleQueue<Int>()
        let consumer = try await ChildProcess.start(QueueEntries.getAndHold, .init(joinable: tasks, got: got, count: 10, done: 4))
        for expected in 0..<10 { #expect(try await got.get() == expected) }
        try await waitUntil("the consumer's reports arrived") { try await tasks.unfinishedCount == 96 }
        #expect(try await tasks.count == 90)
        consumer.kill()
        try await waitUntilGone(consumer)
        var rest: [Int] = []
        for _ in 0..<96 {
            rest.append(try await tasks.get())
            try tasks.taskDone()
        }
        #expect(rest == Array(4..<100), "the 6 it got and did not finish come first, then what it had prefetched")
        try await tasks.join()
        #expect(try await tasks.unfinishedCount == 0)
    }

    /// Kills consumers at random (SIGKILL) while 100,000 items flow through a JoinableQueue:
    /// every item is processed at least once, and `join()` returns.
    @Test func chaosEveryItemIsProcessedAtLeastOnceAndJoinReturns() async throws {
        let total = 100_000
        let tasks = try JoinableQueue<Int>()
        let results = try Queue<Int>()
        for item in 0..<total { try await tasks.put(item) }
        let work = QueueEntries.Work(tasks: tasks, results: results)
        var consumers: [ChildProcess] = []
        for _ in 0..<3 { consumers.append(try await ChildProcess.start(QueueEntries.work, work, options: .init(output: .discard))) }
        let joined = Flag()
        let joiner = Task {
            try await tasks.join()
            joined.set()
        }
        var kills = 0
        var generator = SystemRandomNumberGenerator()
        while !joined.isSet {
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...120, using: &generator)))
            if joined.isSet { break }
            let index = Int.random(in: 0..<consumers.count, using: &generator)
            consumers[index].kill()
            try await consumers[index].join()
            kills += 1
            consumers[index] = try await ChildProcess.start(QueueEntries.work, work, options: .init(output: .discard))
        }
        try await joiner.value
        tasks.shutdown()
        for consumer in consumers {
            _ = try await consumer.result(of: QueueEntries.work)
            try await consumer.join()
        }
        results.shutdown()
        var seen = [Bool](repeating: false, count: total)
        var processed = 0
        for try await item in results {
            seen[item] = true
            processed += 1
        }
        print("chaos: \(kills) consumers killed, \(processed) items processed for \(total)")
        #expect(kills > 0)
        #expect(processed >= total)
        #expect(seen.allSatisfy { $0 }, "\(seen.filter { !$0 }.count) items were never processed")
        #expect(try await tasks.unfinishedCount == 0)
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

extension ProcessOptions {
    init(output: OutputHandling) {
        self.init()
        self.output = output
    }
}
