import Foundation
import Multiprocessing

/// The entries the queue tests start in `MPTestWorker` children (QueueTests).
public enum QueueEntries {
    /// An item that says who put it and in which order.
    public struct Tagged: Codable, Sendable, Hashable {
        public var producer: Int
        public var sequence: Int
        public init(producer: Int, sequence: Int) { self.producer = producer; self.sequence = sequence }
    }

    /// Puts `count` tagged items from `producer`, then closes the queue if told to.
    public struct Produce: Codable, Sendable {
        public var queue: Queue<Tagged>
        public var producer: Int
        public var count: Int
        public var close: Bool
        public init(queue: Queue<Tagged>, producer: Int, count: Int, close: Bool = false) {
            self.queue = queue; self.producer = producer; self.count = count; self.close = close
        }
    }
    public static let produce = ProcessFunction("queue-produce") { (job: Produce) -> Int in
        for sequence in 0..<job.count { try await job.queue.put(Tagged(producer: job.producer, sequence: sequence)) }
        if job.close { job.queue.shutdown() }
        return job.count
    }

    /// Gets every item until the queue is closed and drained; returns them in the order got.
    public static let consumeAll = ProcessFunction("queue-consume-all") { (queue: Queue<Tagged>) -> [Tagged] in
        var items: [Tagged] = []
        for try await item in queue { items.append(item) }
        return items
    }

    /// Gets one item (waiting as long as it takes) and returns it.
    public static let getOne = ProcessFunction("queue-get-one") { (queue: Queue<Int>) -> Int in
        try await queue.get()
    }

    /// Gets `count` items, puts each into `got` (so the parent knows), then sleeps until killed.
    /// With `done`, marks the first `done` of them done (the queue must be a JoinableQueue).
    public struct GetAndHold: Codable, Sendable {
        public var plain: Queue<Int>?
        public var joinable: JoinableQueue<Int>?
        public var got: SimpleQueue<Int>
        public var count: Int
        public var done: Int
        public init(plain: Queue<Int>? = nil, joinable: JoinableQueue<Int>? = nil, got: SimpleQueue<Int>, count: Int, done: Int = 0) {
            self.plain = plain; self.joinable = joinable; self.got = got; self.count = count; self.done = done
        }
    }
    public static let getAndHold = ProcessFunction("queue-get-and-hold") { (job: GetAndHold) -> Int in
        for index in 0..<job.count {
            let item = if let queue = job.plain { try await queue.get() } else { try await job.joinable!.get() }
            if index < job.done { try job.joinable?.taskDone() }
            try job.got.put(item)
        }
        try await Task.sleep(for: .seconds(600))
        return 0
    }

    /// The outcome of each queue operation a worker tried, by name: "ok", "ok:<value>" or the
    /// `QueueError` code.
    public static let probe = ProcessFunction("queue-probe") { (queue: Queue<Int>) -> [String: String] in
        var outcomes: [String: String] = [:]
        func record(_ name: String, _ body: () async throws -> String) async {
            do {
                let value = try await body()
                outcomes[name] = "ok" + value
            } catch {
                outcomes[name] = (error as? QueueError)?.code.name ?? "\(type(of: error))"
            }
        }
        await record("getNowaitEmpty") { ":\(try await queue.getNowait())" }
        await record("getTimeoutEmpty") { ":\(try await queue.get(timeout: .milliseconds(20)))" }
        await record("negativeTimeout") { ":\(try await queue.get(timeout: .milliseconds(-1)))" }   // means 0: empty
        await record("put") { try await queue.put(7); return "" }
        await record("count") { ":\(try await queue.count)" }
        await record("getNowait") { ":\(try await queue.getNowait())" }
        let large = try Queue<Data>()
        await record("putTooLarge") { try await large.put(Data(count: 64 << 20)); return "" }
        let full = try Queue<Int>(maxsize: 1)
        await record("fullFirst") { try await full.put(1); return "" }
        await record("fullNowait") { try await full.putNowait(2); return "" }
        await record("fullTimeout") { try await full.put(2, timeout: .milliseconds(20)); return "" }
        await record("fullNegativeTimeout") { try await full.put(2, timeout: .seconds(-1)); return "" }
        try await queue.put(9)
        queue.close()         // this process puts and gets no more; the queue still answers
        full.close()
        await record("putAfterClose") { try await queue.put(8); return "" }
        await record("getAfterClose") { ":\(try await queue.get())" }
        await record("countAfterClose") { ":\(try await queue.count)" }
        await record("isEmptyAfterClose") { ":\(try await queue.isEmpty)" }
        await record("isFullAfterClose") { ":\(try await full.isFull)" }
        let shut = try Queue<Int>()
        try await shut.put(1)
        try await shut.put(2)
        shut.shutdown()       // for every process: puts fail, gets drain what is left
        await record("putAfterShutdown") { try await shut.put(3); return "" }
        await record("countAfterShutdown") { ":\(try await shut.count)" }
        await record("isEmptyAfterShutdown") { ":\(try await shut.isEmpty)" }
        await record("getAfterShutdown") { ":\(try await shut.get())" }
        await record("getAfterShutdownAgain") { ":\(try await shut.get())" }
        await record("getAfterShutdownDrained") { ":\(try await shut.get())" }
        await record("isEmptyAfterShutdownDrained") { ":\(try await shut.isEmpty)" }
        let dropped = try Queue<Int>()
        for item in 0..<3 { try await dropped.put(item) }
        dropped.shutdown(immediate: true)
        await record("countAfterImmediateShutdown") { ":\(try await dropped.count)" }
        await record("isEmptyAfterImmediateShutdown") { ":\(try await dropped.isEmpty)" }
        await record("getAfterImmediateShutdown") { ":\(try await dropped.get())" }
        return outcomes
    }

    /// In a worker: a get that waits is cancelled (the supervisor is told with queueCancel), then
    /// an item is put; the worker gets it back: the cancelled get took nothing. Returns the item.
    public static let cancelledGet = ProcessFunction("queue-cancelled-get") { (queue: Queue<Int>) -> Int in
        let waiting = Task { try await queue.get() }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        guard case .failure(let error) = await waiting.result, error is CancellationError else { return -1 }
        try await queue.put(99)
        return try await queue.get(timeout: .seconds(30))
    }

    /// Puts `count` items into a JoinableQueue, then waits (in this worker) until all are done.
    public struct PutAndJoin: Codable, Sendable {
        public var queue: JoinableQueue<Int>
        public var count: Int
        public init(queue: JoinableQueue<Int>, count: Int) { self.queue = queue; self.count = count }
    }
    public static let putAndJoin = ProcessFunction("queue-put-and-join") { (job: PutAndJoin) -> Int in
        for item in 0..<job.count { try await job.queue.put(item) }
        try await job.queue.join()
        return try await job.queue.unfinishedCount
    }

    /// Puts 0, 1, 2 from a detached task (off the worker's run loop) while the worker's own code
    /// waits for the parent's answer on `ack`, which comes only once the items arrived.
    public struct DetachedPut: Codable, Sendable {
        public var queue: Queue<Int>
        public var ack: Queue<Int>
        public init(queue: Queue<Int>, ack: Queue<Int>) { self.queue = queue; self.ack = ack }
    }
    public static let putDetached = ProcessFunction("queue-put-detached") { (job: DetachedPut) -> Int in
        let putter = Task.detached {
            try await Task.sleep(for: .milliseconds(50))   // after the code below waits
            for item in 0..<3 { try await job.queue.put(item) }
        }
        let answer = try await job.ack.get()
        try await putter.value
        return answer
    }

    /// Gets a SharedValue handle from `values` and adds 5 to the value, under its lock.
    public static let bumpShared = ProcessFunction("queue-bump-shared") { (values: Queue<SharedValue<Int>>) -> Int in
        let counter = try await values.get()
        return try counter.withLock { value in
            value += 5
            return value
        }
    }

    /// Gets the queue handle that arrives through `outer`, and puts 42 into it.
    public static let relay = ProcessFunction("queue-relay") { (outer: Queue<Queue<Int>>) -> Int in
        let inner = try await outer.get()
        try await inner.put(42)
        return 42
    }

    /// A chaos consumer: for each task, puts it into `results`, then marks it done.
    public struct Work: Codable, Sendable {
        public var tasks: JoinableQueue<Int>
        public var results: Queue<Int>
        public init(tasks: JoinableQueue<Int>, results: Queue<Int>) { self.tasks = tasks; self.results = results }
    }
    public static let work = ProcessFunction("queue-work") { (job: Work) -> Int in
        var count = 0
        for try await task in job.tasks {
            try await job.results.put(task)
            try job.tasks.taskDone()
            count += 1
        }
        return count
    }

    /// Puts `count` strings of `size` bytes into `queue` as fast as it can; returns the count.
    public struct ProduceBlobs: Codable, Sendable {
        public var queue: Queue<String>
        public var count: Int
        public var size: Int
        public init(queue: Queue<String>, count: Int, size: Int) { self.queue = queue; self.count = count; self.size = size }
    }
    public static let produceBlobs = ProcessFunction("queue-produce-blobs") { (job: ProduceBlobs) -> Int in
        let blob = String(repeating: "b", count: job.size)
        for _ in 0..<job.count { try await job.queue.put(blob) }
        return job.count
    }

    public static let functions: [any ProcessEntry] = [produce, produceBlobs, consumeAll, getOne, getAndHold, probe, relay, work, cancelledGet, putAndJoin, putDetached, bumpShared]
}
