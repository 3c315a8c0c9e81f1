import Multiprocessing

// The direct connection of issue 3 (Python's `Pipe()`), no supervisor in the path. Python
// peer: Benchmarks/python/cases_process.py (pipe_roundtrip); C floor: Benchmarks/c/pipe_pingpong.c.

/// The child of `pipe_roundtrip`: echoes every `SmallStruct` that arrives over the connection
/// passed as "pipe", decoded and encoded again (as the Python child's `conn.send(conn.recv())`
/// unpickles and pickles), until the parent closes its end; returns how many it echoed.
let pipeEcho = ProcessFunction("bench-pipe-echo") { (_: Int) -> Int in
    let connection = try Connection.inherited("pipe")
    defer { connection.close() }
    return try echoSmallStructs(connection)
}

/// Blocking receive and send on the calling thread (a synchronous function, so the blocking
/// overloads are the ones called).
func echoSmallStructs(_ connection: Connection) throws -> Int {
    var count = 0
    while true {
        do {
            try connection.send(try connection.receive(SmallStruct.self))
        } catch {
            // (An exhaustive catch: `catch ... where` over typed throws crashes Swift 6.3's -O SILGen.)
            if error.code == .peerClosed { return count }
            throw error
        }
        count += 1
    }
}

let pipeEntries: [any ProcessEntry] = [pipeEcho]

let pipeCases: [BenchmarkCase] = [
    BenchmarkCase(name: "pipe_roundtrip", unit: .microseconds,
                  summary: "send(SmallStruct) then blocking receive(SmallStruct.self) of the echo over a Connection (two pipes) passed at spawn to a child that decodes and re-sends every message; one op = one round trip") { settings in
        let (samples, echoed) = try await withPipeChild(pipeEcho) { connection in
            try connection.send(SmallStruct.sample)
            guard try connection.receive(SmallStruct.self, timeout: .seconds(60)) == SmallStruct.sample else {
                throw BenchmarkFailure("pipe_roundtrip: the echo differs from the message")
            }
            return try pipeRoundTripSamples(settings) {
                try connection.send(SmallStruct.sample)
                blackHole(try connection.receive(SmallStruct.self))
            }
        }
        let frameBytes = 4 + (try MessagePackEncoder().encode(SmallStruct.sample).count)
        return BenchmarkReport(samples: samples.values, info: [
            "round_trips_per_sample": String(samples.perSample),
            "frame_bytes": String(frameBytes),
            "echoed": String(echoed),
            "transport": "two pipes, blocking receive on the calling thread",
        ])
    },
]

/// Starts `echo` in a child that inherits one end of a fresh connection pair (as "pipe"),
/// runs `body` with the other end, then closes it, which ends the child's loop, and joins
/// the child. Returns what `body` returned and the child's result (how many it echoed).
func withPipeChild<Value>(_ echo: ProcessFunction<Int, Int>,
                           _ body: (Connection) throws -> Value) async throws -> (Value, echoed: Int) {
    let (mine, theirs) = try Connection.pair()
    var options = ProcessOptions()
    try options.pass(theirs, as: "pipe")
    let child: ChildProcess
    do {
        child = try await ChildProcess.start(echo, 0, options: options)
    } catch {
        theirs.close()
        mine.close()
        throw error
    }
    theirs.close()   // the child has its copy: its death is end of stream here
    let result: Value
    do {
        result = try body(mine)
    } catch {
        mine.close()
        child.kill()
        _ = try? await child.join()
        throw error
    }
    mine.close()   // the child's receive ends; it returns the count
    let echoed = try await child.result(of: echo)
    try await child.join()
    return (result, echoed)
}

/// Warms up while calibrating a batch of `roundTrip` calls (doubling until one batch takes
/// 20 ms, as the harness does), then times `settings.samples` batches of about
/// `sampleSeconds`; the values are microseconds per round trip.
func pipeRoundTripSamples(_ settings: BenchmarkSettings,
                          _ roundTrip: () throws -> Void) throws -> (values: [Double], perSample: Int) {
    func batch(_ count: Int) throws -> Double {
        let start = monotonicSeconds()
        for _ in 0..<count { try roundTrip() }
        return monotonicSeconds() - start
    }
    var count = 1
    var spent = 0.0
    var perRoundTrip = Double.infinity
    while true {
        let seconds = try batch(count)
        spent += seconds
        perRoundTrip = min(perRoundTrip, seconds / Double(count))
        if seconds >= 0.02 && spent >= settings.warmupSeconds { break }
        if seconds < 0.02 { count *= 2 }
    }
    let perSample = max(1, Int((settings.sampleSeconds / perRoundTrip).rounded()))
    var values: [Double] = []
    for _ in 0..<settings.samples {
        values.append(try batch(perSample) * 1e6 / Double(perSample))
    }
    return (values, perSample)
}
