import Multiprocessing

// A manager over TCP (issue 13): served on a loopback address with an authkey by this
// process's supervisor, reached with Manager.connect from this process's main task, so every
// operation crosses the socket both ways. Python peer: Benchmarks/python/cases_remote.py
// (a BaseManager server process on an address with an authkey, its client in bench.py).

let remoteManagerCases: [BenchmarkCase] = [
    BenchmarkCase(name: "remote_dict_ops", unit: .microseconds,
                  summary: "Manager.connect(to: 127.0.0.1 over TCP, authkey:) to a served manager: set(\"k\", i) then get(\"k\") (checked) on a dictionary; one op = one set+get pair") { settings in
        let key = Array("remote_dict_ops benchmark key".utf8)
        let server = try await Manager().serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: key)
        defer { server.close() }
        let remote = try await Manager.connect(to: server.address, authkey: key)
        defer { remote.disconnect() }
        let dictionary = try await remote.dictionary(String.self, Int.self)
        var i = 0
        let (samples, perSample) = try await remoteSamples(settings) {
            i &+= 1
            try await dictionary.set("k", i)
            let read = try await dictionary.get("k")
            guard read == i else { throw BenchmarkFailure("remote_dict_ops: get(\"k\") read \(String(describing: read)) after set(\"k\", \(i))") }
        }
        return BenchmarkReport(samples: samples, info: ["transport": "tcp loopback", "pairs_per_sample": String(perSample)])
    },
]

/// Samples of an async `operation` in microseconds: warm-up while the batch doubles until it
/// takes 20 ms, then batches of about `sampleSeconds` (as PoolCases' calibration).
private func remoteSamples(_ settings: BenchmarkSettings, _ operation: () async throws -> Void) async throws -> (samples: [Double], perSample: Int) {
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
        samples.append(BenchmarkUnit.microseconds.value(operations: perSample, seconds: try await time(perSample)))
    }
    return (samples, perSample)
}
