import Multiprocessing

// The process pool (issue 12). Its workers are this executable started again (main.swift
// bootstraps the functions below, which registers their chunk runners). Every case uses 2
// workers, as the issue asks. Python peers: Benchmarks/python/cases_pool.py.

/// The trivial function of `pool_map_trivial` and `pool_submit_roundtrip`.
let poolSquare = ProcessFunction("bench-pool-square") { (x: Int) in x * x }

/// About `microseconds` of work: a busy loop on the monotonic clock, as the Python peer's
/// `_spin` does, so both sides do the same work per task whatever their speed.
let poolSpin = ProcessFunction("bench-pool-spin") { (microseconds: Int) -> Int in
    let end = monotonicSeconds() + Double(microseconds) * 1e-6
    while monotonicSeconds() < end {}
    return microseconds
}

let poolEntries: [any ProcessEntry] = [poolSquare, poolSpin]

/// Items of `pool_map_trivial`: the 200,000 ints.
let mapItems = 200_000
/// Work of one `pool_imap_unordered` task, in microseconds.
private let spinMicroseconds = 50

let poolCases: [BenchmarkCase] = [
    BenchmarkCase(name: "pool_map_trivial", unit: .milliseconds,
                  summary: "ProcessPool(2 workers, started and warm).map of x*x over 200,000 ints, default chunking; one op = one map") { settings in
        try await poolMapTrivial(workers: 2, settings: settings)
    },
    BenchmarkCase(name: "pool_submit_roundtrip", unit: .microseconds,
                  summary: "ProcessPool(2 workers, warm): submit(x) of x*x then await its value, one at a time; one op = one task") { settings in
        try await withProcessPool(poolSquare, workers: 2) { pool in
            guard try await pool.submit(7).value == 49 else { throw BenchmarkFailure("pool_submit_roundtrip: 7*7 came back wrong") }
            var next = 0
            let (samples, perSample) = try await calibratedSamples(unit: .microseconds, settings: settings) {
                next &+= 1
                blackHole(try await pool.submit(next & 0xffff).value)
            }
            // The same from a task on the supervisor's loop: the parent's two thread hops (to
            // the loop and back to Swift's pool) left out, to show what they cost.
            var fewer = settings
            fewer.samples = max(3, settings.samples / 2)
            let onLoop = try await withTaskExecutorPreference(Multiprocessing.supervisorExecutor) {
                try await calibratedSamples(unit: .microseconds, settings: fewer) {
                    next &+= 1
                    blackHole(try await pool.submit(next & 0xffff).value)
                }
            }
            return BenchmarkReport(samples: samples, info: [
                "workers": String(pool.workerCount), "tasks_per_sample": String(perSample),
                "on_loop_us": String((median(onLoop.samples) * 10).rounded() / 10),
            ])
        }
    },
    BenchmarkCase(name: "pool_start", unit: .milliseconds,
                  summary: "ProcessPool(square, workers: 2) to the first apply result (workers spawned, handshakes done); terminate and join are not timed") { settings in
        let perSample = settings.sampleSeconds < 0.2 ? 3 : 6
        try await startPoolOnce()   // warm up: the first spawn of a run pays for cold pages
        var samples: [Double] = []
        for _ in 0..<settings.samples {
            var seconds = 0.0
            for _ in 0..<perSample { seconds += try await startPoolOnce() }
            samples.append(seconds * 1e3 / Double(perSample))
        }
        return BenchmarkReport(samples: samples, info: ["workers": "2", "starts_per_sample": String(perSample)])
    },
    BenchmarkCase(name: "pool_imap_unordered", unit: .percent,
                  summary: "20,000 tasks of 50 us of busy work (4,000 with --quick) through imapUnordered, chunkSize 1, on 2 workers; efficiency = (tasks * 50 us / 2) / elapsed * 100") { settings in
        let tasks = settings.sampleSeconds < 0.2 ? 4_000 : 20_000
        let ideal = Double(tasks * spinMicroseconds) * 1e-6 / 2
        return try await withProcessPool(poolSpin, workers: 2) { pool in
            _ = try await spinThrough(pool, tasks: tasks / 10)   // warm up
            var samples: [Double] = []
            var elapsed: [Double] = []
            for _ in 0..<settings.samples {
                let seconds = try await spinThrough(pool, tasks: tasks)
                elapsed.append(seconds)
                samples.append(ideal / seconds * 100)
            }
            // The same tasks in chunks of 10, to show what the per-task round trip costs.
            var chunked: [Double] = []
            for _ in 0..<max(1, settings.samples / 3) {
                chunked.append(ideal / (try await spinThrough(pool, tasks: tasks, chunkSize: 10)) * 100)
            }
            return BenchmarkReport(samples: samples, info: [
                "tasks": String(tasks), "task_us": String(spinMicroseconds), "workers": String(pool.workerCount),
                "chunk_size": "1", "ideal_ms": String((ideal * 1e4).rounded() / 10),
                "median_elapsed_ms": String((median(elapsed) * 1e4).rounded() / 10),
                "chunk_10_percent": String((median(chunked) * 10).rounded() / 10),
            ])
        }
    },
]

/// `pool_map_trivial` on `workers` workers: samples in milliseconds per map of x*x over
/// ``mapItems`` ints (the pool started and warm, default chunking), checked once.
func poolMapTrivial(workers: Int, settings: BenchmarkSettings) async throws -> BenchmarkReport {
    try await withProcessPool(poolSquare, workers: workers) { pool in
        let inputs = Array(0..<mapItems)
        let squares = try await pool.map(inputs)
        guard squares.count == mapItems, squares.indices.allSatisfy({ squares[$0] == $0 * $0 }) else {
            throw BenchmarkFailure("pool_map_trivial: the map returned other values (\(squares.count) of \(mapItems))")
        }
        let (samples, perSample) = try await calibratedSamples(unit: .milliseconds, settings: settings) {
            blackHole(try await pool.map(inputs))
        }
        return BenchmarkReport(samples: samples, info: [
            "items": String(mapItems), "workers": String(pool.workerCount),
            "chunk_size": String(defaultChunkSize(items: mapItems, workers: pool.workerCount)),
            "maps_per_sample": String(perSample),
        ])
    }
}

/// Starts a 2-worker pool, awaits its first result and returns the seconds that took; stops
/// the pool afterwards (untimed).
@discardableResult
private func startPoolOnce() async throws -> Double {
    let start = monotonicSeconds()
    let pool = try await ProcessPool(poolSquare, workers: 2)
    let first: Int
    do { first = try await pool.apply(3) } catch {
        await pool.terminate()
        await pool.join()
        throw error
    }
    let seconds = monotonicSeconds() - start
    await pool.terminate()
    await pool.join()
    guard first == 9 else { throw BenchmarkFailure("pool_start: 3*3 came back as \(first)") }
    return seconds
}

/// Runs `tasks` spin tasks through `imapUnordered` (in chunks of `chunkSize`) and returns the seconds from the call to
/// the last result; checks that every task answered.
private func spinThrough(_ pool: ProcessPool<Int, Int>, tasks: Int, chunkSize: Int = 1) async throws -> Double {
    let inputs = Array(repeating: spinMicroseconds, count: tasks)
    let start = monotonicSeconds()
    var answered = 0
    for try await microseconds in pool.imapUnordered(inputs, chunkSize: chunkSize) { answered += microseconds }
    let seconds = monotonicSeconds() - start
    guard answered == tasks * spinMicroseconds else {
        throw BenchmarkFailure("pool_imap_unordered: \(answered / spinMicroseconds) of \(tasks) tasks answered")
    }
    return seconds
}

/// Samples of an async `operation` in `unit`, timed in batches the way Harness.swift's
/// `throughput` times synchronous work: warm-up while the batch doubles until it takes 20 ms,
/// then batches of about `sampleSeconds`. Returns the samples and the batch size. (Also used
/// by ScalingCases.swift.)
func calibratedSamples(unit: BenchmarkUnit, settings: BenchmarkSettings,
                       _ operation: () async throws -> Void) async throws -> (samples: [Double], perSample: Int) {
    func time(_ count: Int) async throws -> Double {
        let start = monotonicSeconds()
        for _ in 0..<count { try await operation() }
        return monotonicSeconds() - start
    }
    var count = 1
    var spent = 0.0
    var perOperation = Double.infinity
    while true {
        let seconds = try await time(count)
        spent += seconds
        perOperation = min(perOperation, seconds / Double(count))
        if seconds >= 0.02 && spent >= settings.warmupSeconds { break }
        if seconds < 0.02 { count *= 2 }
    }
    let perSample = max(1, Int((settings.sampleSeconds / perOperation).rounded()))
    var samples: [Double] = []
    for _ in 0..<settings.samples {
        samples.append(unit.value(operations: perSample, seconds: try await time(perSample)))
    }
    return (samples, perSample)
}

/// The pool's default chunk for `map`: Python's `divmod(len, 4 * workers)`, rounded up.
private func defaultChunkSize(items: Int, workers: Int) -> Int {
    let (quotient, remainder) = items.quotientAndRemainder(dividingBy: 4 * workers)
    return remainder == 0 ? quotient : quotient + 1
}
