import Multiprocessing

// What the chaos runner's children run: this executable started again (main.swift bootstraps
// these). Each is written so that a kill at any instruction leaves a state the runner can
// check: every effect is recorded after it happened, so a death between the two is bounded.

/// The pool lane's function: a value the runner can check for every input.
let chaosTransform = ProcessFunction("chaos-transform") { (x: Int) -> Int in ChaosCheck.transform(x) }

/// The queue lane's consumer: takes a job, reports it on `done`, then marks it done. A death
/// between the report and `taskDone` redelivers a job that was reported: a duplicate the
/// queue counts as redelivered (`mp_queue_redelivered`).
let chaosConsume = ProcessFunction("chaos-consume") { (job: ConsumerJob) -> Int in
    var consumed = 0
    for try await item in job.jobs {
        try await job.done.put(item)
        try job.jobs.taskDone()
        consumed += 1
    }
    return consumed
}

/// The manager lane's worker: increments one key of a manager dictionary, then counts the
/// acknowledged increment in its own shared slot. Runs until it is killed or stopped.
let chaosIncrement = ProcessFunction("chaos-increment") { (job: CounterJob) -> Int in
    var done = 0
    while try job.stop.load() == 0 {
        _ = try await job.hits.increment(ChaosCheck.key, by: 1)
        _ = try job.acknowledged.add(1)
        done += 1
    }
    return done
}

/// The lock lane's worker: adds one to a shared value and to its own slot, both under the
/// value's lock. A holder killed inside leaves the value at most one ahead of the slots, and
/// the next acquirer is told (owner died) and counts a recovery.
let chaosLockedAdd = ProcessFunction("chaos-locked-add") { (job: LockedJob) -> Int in
    var done = 0
    while try job.stop.load() == 0 {
        try job.value.withLock(recovering: { _ in _ = try job.recoveries.add(1) }) { value in
            value += 1
            _ = try job.acknowledged.add(1)
        }
        done += 1
    }
    return done
}

let chaosEntries: [any ProcessEntry] = [chaosTransform, chaosConsume, chaosIncrement, chaosLockedAdd]

/// What the queue lane's consumers are given.
struct ConsumerJob: Codable, Sendable {
    var jobs: JoinableQueue<Int>
    var done: Queue<Int>
}

/// What a manager-lane worker is given: the dictionary, its own acknowledgement slot, the stop flag.
struct CounterJob: Codable, Sendable {
    var hits: SharedDictionary<String, Int>
    var acknowledged: SharedAtomic<Int>
    var stop: SharedAtomic<Int>
}

/// What a lock-lane worker is given.
struct LockedJob: Codable, Sendable {
    var value: SharedValue<Int>
    var acknowledged: SharedAtomic<Int>
    var recoveries: SharedAtomic<Int>
    var stop: SharedAtomic<Int>
}

enum ChaosCheck {
    static let key = "total"
    static func transform(_ x: Int) -> Int { x &* 7919 &+ 13 }
}
