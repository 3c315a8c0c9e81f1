import FoundationEssentials
import Multiprocessing

// Queues between worker processes (issue 5). The workers are this executable started again;
// the parent only sends commands and sentinels. Python peers: Benchmarks/python/cases_queue.py.
//
// One round of a sample: each producer is told to put `n / producers` items (its command
// queue) and says so on `acks` once its puts were sent; the parent then polls the queue's
// count (every 100 us) until it is 0: every item was got by a consumer (count includes the
// items consumers fetched ahead and their code has not got). One op = one item through the
// queue (put in one process, got in another).

struct QueueBenchProducer: Codable, Sendable {
    var commands: Queue<Int>
    var acks: Queue<Int>
    var items: Queue<SmallStruct>?
    var binaryItems: Queue<BinaryStruct>?
}

/// Puts `n` items for each command `n` (0: stop), then acknowledges.
let queueBenchProducer = ProcessFunction("bench-queue-producer") { (job: QueueBenchProducer) -> Int in
    var total = 0
    for try await count in job.commands {
        if count == 0 { break }
        if let items = job.items {
            let sample = SmallStruct.sample
            for _ in 0..<count { try await items.put(sample) }
        } else if let items = job.binaryItems {
            let sample = BinaryStruct.sample
            for _ in 0..<count { try await items.put(sample) }
        }
        total += count
        try await job.acks.put(count)
    }
    return total
}

struct QueueBenchConsumer: Codable, Sendable {
    var items: Queue<SmallStruct>?
    var binaryItems: Queue<BinaryStruct>?
}

/// Gets items until it gets one with id -1 (stop); returns how many it got.
let queueBenchConsumer = ProcessFunction("bench-queue-consumer") { (job: QueueBenchConsumer) -> Int in
    var count = 0
    while true {
        let id: Int
        if let items = job.items { id = try await items.get().id } else { id = try await job.binaryItems!.get().id }
        if id < 0 { return count }
        count += 1
    }
}

let queueEntries: [any ProcessEntry] = [queueBenchProducer, queueBenchConsumer]

/// Runs `producers` producer and `consumers` consumer processes over one queue of small
/// structs (or 1 KiB binary structs) and returns samples in items per second.
func queueThroughput(producers: Int, consumers: Int, binary: Bool, settings: BenchmarkSettings) async throws -> BenchmarkReport {
    let small = binary ? nil : try Queue<SmallStruct>()
    let large = binary ? try Queue<BinaryStruct>() : nil
    let acks = try Queue<Int>()
    var commandQueues: [Queue<Int>] = []
    var children: [ChildProcess] = []
    for _ in 0..<producers {
        let commands = try Queue<Int>()
        commandQueues.append(commands)
        children.append(try await ChildProcess.start(queueBenchProducer, QueueBenchProducer(commands: commands, acks: acks, items: small, binaryItems: large)))
    }
    for _ in 0..<consumers {
        children.append(try await ChildProcess.start(queueBenchConsumer, QueueBenchConsumer(items: small, binaryItems: large)))
    }
    func stop() async throws {
        if let small { try await small.put(SmallStruct(id: -1, name: "", value: 0)) }
        if let large { try await large.put(BinaryStruct(id: -1, payload: Data())) }
    }
    func queued() async throws -> Int {
        if let small { return try await small.count }
        return try await large!.count
    }
    /// One round of `count` items; returns its seconds.
    func round(_ items: Int) async throws -> Double {
        let share = items / producers
        let start = monotonicSeconds()
        for commands in commandQueues { try await commands.put(share) }
        for _ in 0..<producers { _ = try await acks.get() }
        while try await queued() > 0 { try await Task.sleep(for: .milliseconds(1)) }
        return monotonicSeconds() - start
    }
    // Warm-up and calibration: one sample lasts about `sampleSeconds`.
    var totalItems = 0
    var count = 20_000
    var spent = 0.0
    while spent < settings.warmupSeconds || count < 20_000 {
        let seconds = try await round(count)
        totalItems += count / producers * producers
        spent += seconds
        if seconds > 0.02 { count = max(producers, Int(Double(count) * settings.sampleSeconds / seconds)) } else { count *= 4 }
    }
    var samples: [Double] = []
    for _ in 0..<settings.samples {
        let items = count / producers * producers
        samples.append(Double(items) / (try await round(count)))
        totalItems += items
    }
    for commands in commandQueues { try await commands.put(0) }
    for _ in 0..<consumers { try await stop() }
    var got = 0
    for child in children[producers...] { got += try await child.result(of: queueBenchConsumer) }
    for child in children { try await child.join() }
    guard got == totalItems else { throw BenchmarkFailure("the consumers got \(got) items of \(totalItems)") }
    return BenchmarkReport(samples: samples, info: ["items_per_sample": String(count), "producers": String(producers),
                                                    "consumers": String(consumers)])
}

let queueCases: [BenchmarkCase] = [
    BenchmarkCase(name: "queue_small", unit: .messagesPerSecond,
                  summary: "one producer process puts SmallStruct items on a Queue, one consumer process gets them; one op = one item") { settings in
        try await queueThroughput(producers: 1, consumers: 1, binary: false, settings: settings)
    },
    BenchmarkCase(name: "queue_1k", unit: .messagesPerSecond,
                  summary: "as queue_small with BinaryStruct items (1 KiB of bytes)") { settings in
        try await queueThroughput(producers: 1, consumers: 1, binary: true, settings: settings)
    },
    BenchmarkCase(name: "queue_2x2", unit: .messagesPerSecond,
                  summary: "two producer processes, two consumer processes, one Queue of SmallStruct; one op = one item") { settings in
        try await queueThroughput(producers: 2, consumers: 2, binary: false, settings: settings)
    },
]
