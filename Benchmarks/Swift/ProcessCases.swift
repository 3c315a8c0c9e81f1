import Multiprocessing

// Processes, workers and the supervisor (issue 3). The children are this executable started
// again (main.swift calls Multiprocessing.bootstrap first). Python peers:
// Benchmarks/python/cases_process.py.

let nothing = ProcessFunction("bench-nothing") { (_: Int) in 0 }

/// Sends `count` requests to the worker `target` and returns the seconds they took, timed
/// inside the child (as the Python peer times inside worker A).
struct PingWorker: Codable, Sendable { var target: UInt64; var count: Int }
let pingWorker = ProcessFunction("bench-ping-worker") { (job: PingWorker, context: WorkerContext) -> Double in
    _ = try await context.request(SmallStruct.sample, to: job.target, as: SmallStruct.self)   // warm the route
    let start = monotonicSeconds()
    for _ in 0..<job.count { _ = try await context.request(SmallStruct.sample, to: job.target, as: SmallStruct.self) }
    return monotonicSeconds() - start
}

/// Answers every request with its payload.
struct BenchEcho: Worker {
    func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(SmallStruct.self) { try request.reply(request.value) }
    }
}

let processEntries: [any ProcessEntry] = [nothing, pingWorker]
let processWorkers: [any Worker.Type] = [BenchEcho.self]

let processCases: [BenchmarkCase] = [
    BenchmarkCase(name: "process_start_join", unit: .milliseconds,
                  summary: "ChildProcess.start of a function that returns at once (this executable, default options: forked by the fork server once it is up), then join; one op = start + handshake + argument + exit + join") { settings in
        try await processStartJoin(settings, options: ProcessOptions())
    },
    BenchmarkCase(name: "process_start_join_cold", unit: .milliseconds,
                  summary: "process_start_join with startMethod .spawn: posix_spawn of this (dynamically linked) executable for every child") { settings in
        var options = ProcessOptions()
        options.startMethod = .spawn
        return try await processStartJoin(settings, options: options)
    },
    BenchmarkCase(name: "routed_roundtrip", unit: .microseconds,
                  summary: "request/reply of SmallStruct from the parent's code (a task on Swift's pool) to a worker through the in-process supervisor (two pipe hops, two thread hops)") { settings in
        try await routedRoundTrips(settings)
    },
    BenchmarkCase(name: "routed_roundtrip_on_loop", unit: .microseconds,
                  summary: "routed_roundtrip from a task on Multiprocessing.supervisorExecutor (two pipe hops, no thread hop)") { settings in
        try await withTaskExecutorPreference(Multiprocessing.supervisorExecutor) { try await routedRoundTrips(settings) }
    },
    BenchmarkCase(name: "routed_worker_roundtrip", unit: .microseconds,
                  summary: "request/reply of SmallStruct from worker A to worker B through the supervisor, timed inside A") { settings in
        let echo = try await ChildProcess.start(BenchEcho.self)
        let count = settings.sampleSeconds < 0.2 ? 1_000 : 4_000
        var samples: [Double] = []
        for _ in 0..<settings.samples {
            let seconds = try await ChildProcess.run(pingWorker, PingWorker(target: echo.id, count: count))
            samples.append(seconds * 1e6 / Double(count))
        }
        echo.closeMailbox()
        try await echo.join()
        return BenchmarkReport(samples: samples, info: ["round_trips_per_sample": String(count)])
    },
]

/// Times request/reply round trips from the calling task to a ``BenchEcho`` worker.
func routedRoundTrips(_ settings: BenchmarkSettings) async throws -> BenchmarkReport {
    let echo = try await ChildProcess.start(BenchEcho.self)
    defer { echo.closeMailbox() }
    for _ in 0..<200 { _ = try await echo.request(SmallStruct.sample, as: SmallStruct.self) }
    let count = settings.sampleSeconds < 0.2 ? 1_000 : 4_000
    var samples: [Double] = []
    for _ in 0..<settings.samples {
        let start = monotonicSeconds()
        for _ in 0..<count { _ = try await echo.request(SmallStruct.sample, as: SmallStruct.self) }
        samples.append((monotonicSeconds() - start) * 1e6 / Double(count))
    }
    echo.closeMailbox()
    try await echo.join()
    return BenchmarkReport(samples: samples, info: ["round_trips_per_sample": String(count)])
}

/// Start + join of `nothing` with `options`, in ms per child. The warm-up starts the fork
/// server (the first children are spawned while it starts) and waits until it forks.
private func processStartJoin(_ settings: BenchmarkSettings, options: ProcessOptions) async throws -> BenchmarkReport {
    var samples: [Double] = []
    let perSample = settings.sampleSeconds < 0.2 ? 5 : 15
    for _ in 0..<10 {
        _ = try await ChildProcess.run(nothing, 0, options: options)
        try await Task.sleep(for: .milliseconds(5))
    }
    for _ in 0..<settings.samples {
        let start = monotonicSeconds()
        for _ in 0..<perSample {
            let child = try await ChildProcess.start(nothing, 0, options: options)
            try await child.join()
        }
        samples.append((monotonicSeconds() - start) * 1e3 / Double(perSample))
    }
    return BenchmarkReport(samples: samples, info: ["starts_per_sample": String(perSample)])
}
