import Multiprocessing

// The manager (issue 13): a shared dictionary served by the supervisor, used from worker
// processes (this executable started again; main.swift registers `managerEntries`). Python
// peers: Benchmarks/python/cases_manager.py. `remote_dict_ops` (the same over TCP) is another
// file's.

/// What the `manager_dict_ops` worker is given: the dictionary, the queue its batches are
/// ordered on (n: do n set+get pairs; 0: stop) and the queue it answers each batch's seconds on.
struct ManagerDictOpsJob: Codable, Sendable {
    var dictionary: SharedDictionary<String, Int>
    var commands: Queue<Int>
    var answers: Queue<Double>
}

/// Runs batches on command: `set("k", i)` then `get("k")` (checked) n times, and answers the
/// seconds they took, measured here. Returns how many batches it ran.
let managerDictOpsWorker = ProcessFunction("bench-manager-dict-ops") { (job: ManagerDictOpsJob) -> Int in
    var batches = 0
    for try await count in job.commands {
        if count == 0 { break }
        let start = monotonicSeconds()
        for i in 0..<count {
            try await job.dictionary.set("k", i)
            let read = try await job.dictionary.get("k")
            guard read == i else { throw BenchmarkFailure("manager_dict_ops: get(\"k\") read \(String(describing: read)) after set(\"k\", \(i))") }
        }
        try await job.answers.put(monotonicSeconds() - start)
        batches += 1
    }
    return batches
}

/// What a `manager_atomic_increment` worker is given: the dictionary, the flag it waits for
/// (both workers start together), and how many increments to do.
struct ManagerIncrementJob: Codable, Sendable {
    var dictionary: SharedDictionary<String, Int>
    var go: SharedAtomic<Int>
    var count: Int
}

/// Waits for `go`, does `increment("k", by: 1)` `count` times, and answers when it started and
/// ended (CLOCK_MONOTONIC, one clock for every process).
let managerIncrementWorker = ProcessFunction("bench-manager-increment") { (job: ManagerIncrementJob) -> [Double] in
    _ = try await job.dictionary.get("k")   // the worker reaches the manager before the go
    while try job.go.load() == 0 { try await Task.sleep(for: .microseconds(50)) }
    let start = monotonicSeconds()
    for _ in 0..<job.count { _ = try await job.dictionary.increment("k", by: 1) }
    return [start, monotonicSeconds()]
}

/// What the `manager_queue` worker is given: the manager's queue and the command and answer
/// queues, as ``ManagerDictOpsJob``.
struct ManagerQueueOpsJob: Codable, Sendable {
    var queue: ManagerQueue<SmallStruct>
    var commands: Queue<Int>
    var answers: Queue<Double>
}

/// Runs batches on command: `put(SmallStruct.sample)` then `get()` (checked) n times on the
/// manager's queue, and answers the seconds they took. Returns how many batches it ran.
let managerQueueOpsWorker = ProcessFunction("bench-manager-queue-ops") { (job: ManagerQueueOpsJob) -> Int in
    var batches = 0
    let sample = SmallStruct.sample
    for try await count in job.commands {
        if count == 0 { break }
        let start = monotonicSeconds()
        for _ in 0..<count {
            try await job.queue.put(sample)
            let item = try await job.queue.get()
            guard item == sample else { throw BenchmarkFailure("manager_queue: get() returned \(item) after put(\(sample))") }
        }
        try await job.answers.put(monotonicSeconds() - start)
        batches += 1
    }
    return batches
}

let managerEntries: [any ProcessEntry] = [managerDictOpsWorker, managerIncrementWorker, managerQueueOpsWorker]

let managerCases: [BenchmarkCase] = [
    BenchmarkCase(name: "manager_dict_ops", unit: .microseconds,
                  summary: "in a worker process: set(\"k\", i) then get(\"k\") (checked) on Manager().dictionary(String.self, Int.self); one op = one set+get pair, batches ordered over a Queue") { settings in
        let manager = try Manager()
        let dictionary = try await manager.dictionary(String.self, Int.self)
        return try await managerBatches(settings) { commands, answers in
            try await ChildProcess.start(managerDictOpsWorker, ManagerDictOpsJob(dictionary: dictionary, commands: commands, answers: answers))
        }
    },
    BenchmarkCase(name: "manager_queue", unit: .microseconds,
                  summary: "in a worker process: put(SmallStruct) then get() (checked) on Manager().queue(SmallStruct.self); one op = one put+get pair, batches ordered over a Queue") { settings in
        let manager = try Manager()
        let queue = try await manager.queue(SmallStruct.self)
        return try await managerBatches(settings) { commands, answers in
            try await ChildProcess.start(managerQueueOpsWorker, ManagerQueueOpsJob(queue: queue, commands: commands, answers: answers))
        }
    },
    BenchmarkCase(name: "manager_start", unit: .milliseconds,
                  summary: "Manager() (the default runtime's, served by its supervisor) to a first dictionary(String.self, Int.self) with one set done; one op = one manager; info: the first in the process, which starts the supervisor") { settings in
        let perSample = settings.sampleSeconds < 0.2 ? 3 : 6
        // The first in this process also starts the supervisor that serves the manager (no
        // earlier case ran here): reported apart, in the info.
        let first = try await startManagerOnce()
        var samples: [Double] = []
        for _ in 0..<settings.samples {
            var seconds = 0.0
            for _ in 0..<perSample { seconds += try await startManagerOnce() }
            samples.append(seconds * 1e3 / Double(perSample))
        }
        return BenchmarkReport(samples: samples, info: ["starts_per_sample": String(perSample),
                                                        "first_in_process_ms": String((first * 1e5).rounded() / 100)])
    },
    BenchmarkCase(name: "manager_atomic_increment", unit: .microseconds,
                  summary: "two worker processes each do increment(\"k\", by: 1) N times on one Manager() dictionary from one go signal; total exact; one op = one increment, (last end - first start) / 2N") { settings in
        try await managerIncrementSamples(settings)
    },
]

/// `manager_dict_ops` and `manager_queue`: the worker `start` starts runs batches on command;
/// the parent times each batch whole (one command hop per 0.3 s, as the Python peer), the
/// worker's own figure goes in the info.
private func managerBatches(_ settings: BenchmarkSettings,
                            start: (Queue<Int>, Queue<Double>) async throws -> ProcessTask<Int>) async throws -> BenchmarkReport {
    let commands = try Queue<Int>()
    let answers = try Queue<Double>()
    let worker = try await start(commands, answers)
    var inside: [(count: Int, seconds: Double)] = []
    func batch(_ count: Int) async throws -> Double {
        let start = monotonicSeconds()
        try await commands.put(count)
        let seconds = try await answers.get()
        inside.append((count, seconds))
        return monotonicSeconds() - start
    }
    do {
        var count = 1
        var spent = 0.0
        var perOperation = Double.infinity
        while true {   // warm-up and calibration, as Harness.swift's
            let seconds = try await batch(count)
            spent += seconds
            perOperation = min(perOperation, seconds / Double(count))
            if seconds >= 0.02 && spent >= settings.warmupSeconds { break }
            if seconds < 0.02 { count *= 2 }
        }
        let perSample = max(1, Int((settings.sampleSeconds / perOperation).rounded()))
        var samples: [Double] = []
        for _ in 0..<settings.samples {
            samples.append(BenchmarkUnit.microseconds.value(operations: perSample, seconds: try await batch(perSample)))
        }
        try await commands.put(0)
        _ = try await worker.value
        _ = try await worker.join()
        let insideWorker = median(inside.filter { $0.count == perSample }.map { $0.seconds * 1e6 / Double(perSample) })
        return BenchmarkReport(samples: samples, info: ["pairs_per_sample": String(perSample),
                                                        "inside_worker_us": String((insideWorker * 100).rounded() / 100)])
    } catch {
        try? await commands.put(0)
        _ = try? await worker.join()
        throw error
    }
}

/// Seconds from `Manager()` to a first dictionary with one item set (checked after, untimed).
@discardableResult
private func startManagerOnce() async throws -> Double {
    let start = monotonicSeconds()
    let manager = try Manager()
    let dictionary = try await manager.dictionary(String.self, Int.self)
    try await dictionary.set("k", 1)
    let seconds = monotonicSeconds() - start
    let read = try await dictionary.get("k")
    guard read == 1 else { throw BenchmarkFailure("manager_start: the new dictionary read back \(String(describing: read)), not 1") }
    return seconds
}

/// Two workers increment "k" `count` times each from one go signal; returns the time per
/// increment (us) and the share of the span both ran at once. Throws if the total is not exact.
private func contendedManagerIncrements(_ dictionary: SharedDictionary<String, Int>, count: Int) async throws -> (perIncrement: Double, overlap: Double) {
    try await dictionary.set("k", 0)
    let go = try SharedAtomic<Int>(0)
    defer { try? go.free() }
    let job = ManagerIncrementJob(dictionary: dictionary, go: go, count: count)
    let workers = [try await ChildProcess.start(managerIncrementWorker, job), try await ChildProcess.start(managerIncrementWorker, job)]
    try go.store(1)
    var spans: [[Double]] = []
    for worker in workers {
        spans.append(try await worker.value)
        _ = try await worker.join()
    }
    let total = try await dictionary.get("k")
    guard total == 2 * count else {
        throw BenchmarkFailure("manager_atomic_increment: the two workers incremented to \(String(describing: total)), not \(2 * count)")
    }
    let seconds = spans.map { $0[1] }.max()! - spans.map { $0[0] }.min()!
    let together = max(0, spans.map { $0[1] }.min()! - spans.map { $0[0] }.max()!)
    return (seconds * 1e6 / Double(2 * count), together / seconds)
}

/// Samples of ``contendedManagerIncrements(_:count:)``, the count calibrated so that a run
/// lasts about `sampleSeconds`.
private func managerIncrementSamples(_ settings: BenchmarkSettings) async throws -> BenchmarkReport {
    let manager = try Manager()
    let dictionary = try await manager.dictionary(String.self, Int.self)
    var count = 1_000
    while true {   // warm-up and calibration: until a run lasts at least half a sample
        let probe = try await contendedManagerIncrements(dictionary, count: count)
        let seconds = Double(2 * count) * probe.perIncrement * 1e-6
        count = max(1_000, Int(settings.sampleSeconds / 2 / (probe.perIncrement * 1e-6)))
        if seconds >= settings.sampleSeconds / 2 { break }
    }
    var samples: [Double] = []
    var overlaps: [Double] = []
    for _ in 0..<settings.samples {
        let (perIncrement, overlap) = try await contendedManagerIncrements(dictionary, count: count)
        samples.append(perIncrement)
        overlaps.append(overlap)
    }
    return BenchmarkReport(samples: samples, info: ["increments_per_worker": String(count), "workers": "2",
                                                    "median_overlap_percent": String(Int(median(overlaps) * 100))])
}
