import Multiprocessing

/// What a worker is given: the two counters, the barrier that starts every worker at once, the
/// queue it reports on, and how to count.
struct CounterJob: Codable, Sendable {
    /// The worker's number, from 1.
    var worker: Int
    var increments: Int
    /// Read, then write the sum, without the lock (get then set): loses updates.
    var unsafe: Bool
    /// A counter in shared memory, with its lock (every process maps the same memory).
    var value: SharedValue<Int>
    /// A counter in the manager (the supervisor keeps it), under the key ``totalKey``.
    var hits: SharedDictionary<String, Int>
    var start: Barrier
    var reports: Queue<WorkerReport>
}

/// What a worker reports on the queue once it is done.
struct WorkerReport: Codable, Sendable {
    var worker: Int
    var increments: Int
    var milliseconds: Int
}

/// The key of the manager dictionary's counter.
let totalKey = "total"

/// A worker: waits until every worker is ready, increments both counters `increments` times,
/// and reports on the queue.
let incrementCounters = ProcessFunction("shared-counter-increment") { (job: CounterJob) in
    // All at once, or the first workers could be done before the last start and lose nothing.
    _ = try await job.start.wait()
    let started = ContinuousClock.now
    // The shared value first, then the dictionary: each loop on its own, so that the workers
    // hit one counter at the same time (a value's increment takes nanoseconds, a manager's a
    // round trip).
    if job.unsafe {
        // Each read and each write is one step (the value's lock is taken for each, as for
        // Python's `value.value`), but another worker's write between them is overwritten.
        for _ in 0..<job.increments { try job.value.store(try job.value.load() + 1) }
        // Two round trips, Python's `d[k] += 1` on a proxy: the same race, wider.
        for _ in 0..<job.increments { try await job.hits.set(totalKey, (try await job.hits.get(totalKey) ?? 0) + 1) }
    } else {
        // The read, the sum and the write under the value's lock, in one step.
        for _ in 0..<job.increments { try job.value.withLock { $0 += 1 } }
        // One request: the manager adds and answers, nothing can come between.
        for _ in 0..<job.increments { _ = try await job.hits.increment(totalKey, by: 1) }
    }
    let elapsed = ContinuousClock.now - started
    let milliseconds = Int(elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    try await job.reports.put(WorkerReport(worker: job.worker, increments: job.increments, milliseconds: milliseconds))
}
