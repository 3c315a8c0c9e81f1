import Multiprocessing

// Synchronization across processes (issue 4): two processes hand a turn back and forth through
// two Events (futex words in the arena). Python peer: Benchmarks/python/cases_sync.py.

/// What the answering child is given.
struct PingPongJob: Codable, Sendable {
    var ping: Event
    var pong: Event
    var rounds: Int
}

/// Waits for `ping`, lowers it, raises `pong`, `rounds` times (the blocking forms: one thread,
/// no hop).
let pongEntry = ProcessFunction("bench-sync-pong") { (job: PingPongJob) -> Int in
    try answerPings(job)
}

func answerPings(_ job: PingPongJob) throws -> Int {
    for _ in 0..<job.rounds {
        guard try job.ping.wait(timeout: .seconds(60)) else { throw BenchmarkFailure("no ping within 60 s") }
        job.ping.clear()
        job.pong.set()
    }
    return job.rounds
}

/// This side of `rounds` round trips: raise `ping`, wait for `pong`, lower it.
func sendPings(_ job: PingPongJob, rounds: Int) throws {
    for _ in 0..<rounds {
        job.ping.set()
        guard try job.pong.wait(timeout: .seconds(60)) else { throw BenchmarkFailure("no pong within 60 s") }
        job.pong.clear()
    }
}

let synchronizeEntries: [any ProcessEntry] = [pongEntry]

let synchronizeCases: [BenchmarkCase] = [
    BenchmarkCase(name: "event_pingpong", unit: .microseconds,
                  summary: "one op = a round trip between this process and a child through two Events (set ping / wait pong / clear), blocking forms; per sample a new child, 200 warm-up rounds untimed") { settings in
        let rounds = settings.sampleSeconds < 0.2 ? 5_000 : 20_000
        let warmUp = 200
        var samples: [Double] = []
        for _ in 0..<settings.samples {
            let job = PingPongJob(ping: try Event(), pong: try Event(), rounds: warmUp + rounds)
            let child = try await ChildProcess.start(pongEntry, job)
            try sendPings(job, rounds: warmUp)
            let start = monotonicSeconds()
            try sendPings(job, rounds: rounds)
            samples.append((monotonicSeconds() - start) * 1e6 / Double(rounds))
            guard try await child.result(of: pongEntry) == warmUp + rounds else { throw BenchmarkFailure("the child answered too few") }
            try await child.join()
        }
        return BenchmarkReport(samples: samples, info: ["rounds_per_sample": String(rounds), "processes": "2"])
    },
]
