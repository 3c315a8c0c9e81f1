import Multiprocessing

// Shared memory (issue 4): values under their lock, atomics, and a shared array filled by a
// child. Python peers: Benchmarks/python/cases_shared.py. The children are this executable
// started again (main.swift registers `sharedMemoryEntries`).

/// What an incrementing child is given: the counter (a locked value or an atomic), how many
/// increments, and the flag it waits for so that both children start together.
struct IncrementJob: Codable, Sendable {
    var value: SharedValue<Int>?
    var atomic: SharedAtomic<Int>?
    var go: SharedAtomic<Int>
    var count: Int
}

/// Waits for `go`, increments `count` times, and answers when it started and ended
/// (CLOCK_MONOTONIC, the same clock in every process).
let incrementEntry = ProcessFunction("bench-shared-increment") { (job: IncrementJob) -> [Double] in
    while try job.go.load() == 0 { try await Task.sleep(for: .microseconds(50)) }
    let start = monotonicSeconds()
    if let value = job.value {
        for _ in 0..<job.count { try value.withLock { $0 += 1 } }
    } else if let atomic = job.atomic {
        for _ in 0..<job.count { try atomic.add(1) }
    }
    return [start, monotonicSeconds()]
}

/// Sets element i to i * 0.5 and answers how many it wrote.
let fillEntry = ProcessFunction("bench-shared-fill") { (array: SharedArray<Double>) -> Int in
    try array.withUnsafeMutableBufferPointer { buffer in
        for index in buffer.indices { buffer[index] = Double(index) * 0.5 }
        return buffer.count
    }
}

let sharedMemoryEntries: [any ProcessEntry] = [incrementEntry, fillEntry]

/// Two children each increment `count` times from one go signal; the rate is their total
/// over the span from the first start to the last end. Throws if the total is not exact.
func contendedIncrements(count: Int, locked: Bool) async throws -> (rate: Double, overlap: Double) {
    let go = try SharedAtomic<Int>(0)
    let value = locked ? try SharedValue<Int>(0) : nil
    let atomic = locked ? nil : try SharedAtomic<Int>(0)
    defer { try? go.free(); try? value?.free(); try? atomic?.free() }
    let job = IncrementJob(value: value, atomic: atomic, go: go, count: count)
    let children = [try await ChildProcess.start(incrementEntry, job), try await ChildProcess.start(incrementEntry, job)]
    try go.store(1)
    var spans: [[Double]] = []
    for child in children {
        spans.append(try await child.result(of: incrementEntry))
        try await child.join()
    }
    let total = try value?.load() ?? atomic!.load()
    guard total == 2 * count else {
        throw BenchmarkFailure("the two children incremented to \(total), not \(2 * count)")
    }
    let seconds = spans.map { $0[1] }.max()! - spans.map { $0[0] }.min()!
    // The share of the span when both children ran: on a busy 2-core machine the scheduler
    // may run them one after the other, and an uncontended add is far cheaper.
    let together = max(0, spans.map { $0[1] }.min()! - spans.map { $0[0] }.max()!)
    return (Double(2 * count) / seconds, together / seconds)
}

/// Samples of ``contendedIncrements(count:locked:)``, the count calibrated so that a sample
/// lasts about `sampleSeconds`.
func incrementSamples(_ settings: BenchmarkSettings, locked: Bool) async throws -> BenchmarkReport {
    // Warm-up and calibration: until a run lasts at least half a sample.
    var count = 100_000
    while true {
        let probe = try await contendedIncrements(count: count, locked: locked)
        let seconds = Double(2 * count) / probe.rate
        count = max(10_000, Int(probe.rate * settings.sampleSeconds / 2))
        if seconds >= settings.sampleSeconds / 2 { break }
    }
    var samples: [Double] = []
    var overlaps: [Double] = []
    for _ in 0..<settings.samples {
        let (rate, overlap) = try await contendedIncrements(count: count, locked: locked)
        samples.append(rate)
        overlaps.append(overlap)
    }
    return BenchmarkReport(samples: samples, info: ["increments_per_child": String(count), "processes": "2",
                                                    "median_overlap_percent": String(Int(median(overlaps) * 100))])
}

let arrayLength = 1_000_000
let expectedArraySum = Double(arrayLength - 1) * Double(arrayLength) / 4   // sum of i * 0.5

/// The sum of `values`, four running sums at a time (one long chain of dependent adds is
/// bound by the add's latency). Exact here: every partial sum is a multiple of 0.5 below 2^53.
func sumInFourLanes(_ values: UnsafeMutableBufferPointer<Double>) -> Double {
    var lanes: (Double, Double, Double, Double) = (0, 0, 0, 0)
    var index = 0
    while index + 4 <= values.count {
        lanes.0 += values[index]; lanes.1 += values[index + 1]; lanes.2 += values[index + 2]; lanes.3 += values[index + 3]
        index += 4
    }
    while index < values.count { lanes.0 += values[index]; index += 1 }
    return (lanes.0 + lanes.1) + (lanes.2 + lanes.3)
}

let sharedMemoryCases: [BenchmarkCase] = [
    BenchmarkCase(name: "value_lock_increment", unit: .incrementsPerSecond,
                  summary: "two children each do `try counter.withLock { $0 += 1 }` on one SharedValue<Int> (its default RLock: a robust process-shared mutex in the arena) from one go signal; total exact; rate = all increments / (last end - first start)") { settings in
        try await incrementSamples(settings, locked: true)
    },
    BenchmarkCase(name: "atomic_add", unit: .incrementsPerSecond,
                  summary: "two children each do `try counter.add(1)` on one SharedAtomic<Int> (lock xadd in the arena) from one go signal; total exact; ratio against Python's Value under get_lock()") { settings in
        try await incrementSamples(settings, locked: false)
    },
    BenchmarkCase(name: "array_fill_sum", unit: .milliseconds,
                  summary: "one op = SharedArray<Double>(repeating: 0, count: 1_000_000, lock: .none), a child started with it sets a[i] = i * 0.5, joined, the parent sums the buffer in four lanes (checked), the array freed") { settings in
        var phases = [Double](repeating: 0, count: 5)   // allocate, start, result, join, sum
        func once() async throws {
            var mark = monotonicSeconds()
            func lap(_ phase: Int) { let now = monotonicSeconds(); phases[phase] += now - mark; mark = now }
            let array = try SharedArray<Double>(repeating: 0, count: arrayLength, lock: .none)
            defer { try? array.free() }
            lap(0)
            let child = try await ChildProcess.start(fillEntry, array)
            lap(1)
            let written = try await child.result(of: fillEntry)
            lap(2)
            try await child.join()
            lap(3)
            let sum = try array.withUnsafeMutableBufferPointer(sumInFourLanes)
            lap(4)
            guard written == arrayLength, sum == expectedArraySum else {
                throw BenchmarkFailure("the child wrote \(written) elements summing to \(sum), not \(expectedArraySum)")
            }
        }
        try await once()   // warm up
        let perSample = settings.sampleSeconds < 0.2 ? 3 : 10
        var samples: [Double] = []
        for _ in 0..<settings.samples {
            let start = monotonicSeconds()
            for _ in 0..<perSample { try await once() }
            samples.append((monotonicSeconds() - start) * 1e3 / Double(perSample))
        }
        let ops = Double(perSample * settings.samples + 1)
        let names = ["allocate", "start", "result", "join", "sum"]
        var info = ["elements": String(arrayLength), "ops_per_sample": String(perSample)]
        for (name, seconds) in zip(names, phases) { info["mean_\(name)_ms"] = String((seconds * 1e5 / ops).rounded() / 100) }
        return BenchmarkReport(samples: samples, info: info)
    },
]
