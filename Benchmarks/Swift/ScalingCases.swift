import FoundationEssentials
import Multiprocessing

// How cost grows (issue 15): the sweeps that Benchmarks/plot runs and draws. Each point of a
// sweep is a case of its own, its parameter in its name (`scale_queue_small_p4`), so the
// driver runs and retries points one by one and both sides answer under the same name.
// Benchmarks/run does not list them: they are charts, not rows of its table. Python peers:
// Benchmarks/python/cases_scaling.py.

/// Producers (and as many consumers) of the queue sweep, and workers of the pool sweep.
let scalingProcessCounts = [1, 2, 4, 8]
/// Payload sizes of the round-trip sweep: 16 B to 16 MiB, powers of 4.
let scalingPayloadSizes = (2...12).map { 1 << (2 * $0) }
/// Children started at once in the process-start sweep.
let scalingChildCounts = [1, 2, 5, 10, 20, 50, 100, 200]

/// The child of the payload sweep: echoes every frame's bytes as they came (Python's
/// `send_bytes(recv_bytes())`) over the connection passed as "pipe", until the parent closes
/// its end; returns how many it echoed.
let bytesEcho = ProcessFunction("bench-bytes-echo") { (_: Int) -> Int in
    let connection = try Connection.inherited("pipe")
    defer { connection.close() }
    return try echoBytes(connection)
}

/// ``bytesEcho``'s loop: blocking receive and send on the calling thread (a synchronous
/// function, so the blocking overloads are the ones called, as in `echoSmallStructs`).
func echoBytes(_ connection: Connection) throws -> Int {
    var count = 0
    while true {
        do {
            try connection.send(bytes: try connection.receiveBytes())
        } catch {
            // (An exhaustive catch: `catch ... where` over typed throws crashes Swift 6.3's -O SILGen.)
            if error.code == .peerClosed { return count }
            throw error
        }
        count += 1
    }
}

/// The functions the sweep's children run (main.swift bootstraps them).
let scalingEntries: [any ProcessEntry] = [bytesEcho]

/// Items per second: the pool sweep's unit (a map's items over its time).
private let itemsPerSecond = BenchmarkUnit(symbol: "item/s")

/// Every point of every sweep, listed in Registry.swift's `allCases`.
let scalingCases: [BenchmarkCase] =
    scalingProcessCounts.map { count in
        BenchmarkCase(name: "scale_queue_small_p\(count)", unit: .messagesPerSecond,
                      summary: "queue_small with \(count) producer and \(count) consumer processes on one Queue of SmallStruct; one op = one item") { settings in
            try await queueThroughput(producers: count, consumers: count, binary: false, settings: settings)
        }
    }
    + scalingProcessCounts.map { workers in
        BenchmarkCase(name: "scale_pool_map_w\(workers)", unit: itemsPerSecond,
                      summary: "pool_map_trivial on \(workers) workers: map of x*x over 200,000 ints, in items per second") { settings in
            var report = try await poolMapTrivial(workers: workers, settings: settings)
            // Milliseconds per map to items per second, so that higher is better on the chart.
            report.samples = report.samples.map { Double(mapItems) / ($0 / 1e3) }
            return report
        }
    }
    + scalingPayloadSizes.map { size in
        BenchmarkCase(name: "scale_payload_roundtrip_\(size)", unit: .microseconds,
                      summary: "send(bytes:) of \(size) bytes then receiveBytes() of the echo, over a Connection (two pipes) to a child echoing the bytes; one op = one round trip") { settings in
            try await payloadRoundTrips(size: size, settings: settings)
        }
    }
    + scalingChildCounts.map { count in
        BenchmarkCase(name: "scale_process_start_\(count)", unit: .milliseconds,
                      summary: "ChildProcess.start of \(count) children running a function that returns at once, one after another, then join of all; one op = the whole batch") { settings in
            try await startAndJoinAll(count, settings: settings)
        }
    }

/// Round trips of `size` bytes to a ``bytesEcho`` child, in microseconds each.
private func payloadRoundTrips(size: Int, settings: BenchmarkSettings) async throws -> BenchmarkReport {
    let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 % 251) }
    let (samples, echoed) = try await withPipeChild(bytesEcho) { connection in
        try connection.send(bytes: payload)
        guard try connection.receiveBytes(timeout: .seconds(60)) == payload else {
            throw BenchmarkFailure("scale_payload_roundtrip_\(size): the echo differs from the payload")
        }
        return try pipeRoundTripSamples(settings) {
            try connection.send(bytes: payload)
            blackHole(try connection.receiveBytes().count)
        }
    }
    return BenchmarkReport(samples: samples.values, info: [
        "bytes": String(size), "round_trips_per_sample": String(samples.perSample), "echoed": String(echoed),
    ])
}

/// Starts `count` children of ``nothing`` one after another, then joins them all; samples in
/// milliseconds per batch. A batch of many children lasts long, so the calibration gives
/// one batch a sample there.
private func startAndJoinAll(_ count: Int, settings: BenchmarkSettings) async throws -> BenchmarkReport {
    func batch() async throws {
        var children: [ChildProcess] = []
        children.reserveCapacity(count)
        do {
            for _ in 0..<count { children.append(try await ChildProcess.start(nothing, 0)) }
        } catch {
            for child in children { child.kill() }
            for child in children { _ = try? await child.join() }
            throw error
        }
        for child in children { try await child.join() }
    }
    let (samples, perSample) = try await calibratedSamples(unit: .milliseconds, settings: settings) { try await batch() }
    return BenchmarkReport(samples: samples, info: ["children": String(count), "batches_per_sample": String(perSample)])
}
