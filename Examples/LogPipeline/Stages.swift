import Multiprocessing

// The Swift stages of pipeline.yaml. Each is a `Worker`: mpctl sends it one item per request
// and takes the reply's array as the items that go on (Protocols/PROTOCOL.md, "Pipeline stages").

/// `generate`: a seed (an integer from the source's range) becomes `LogLines.perSeed` log lines.
struct Generate: Worker {
    func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(Int.self) {
            try request.reply(LogLines.lines(seed: request.value))
        }
    }
}

/// A parsed log line, as parse.py answers it.
struct Record: Codable, Sendable {
    var ip: String
    var time: String
    var method: String
    var path: String
    var status: Int
    var bytes: Int
    var ms: Int
    var region: String?
}

/// `enrich`: adds the client's region. The lookup is slow (a millisecond here), so its answers
/// are cached in a manager dictionary shared by every enrich worker, and the hits and misses
/// counted there atomically, in one round trip each.
struct Enrich: Worker {
    func run(_ context: WorkerContext) async throws {
        let manager = try Manager()
        let cache = try await manager.dictionary(String.self, String.self, name: "region-cache")
        let stats = try await manager.dictionary(String.self, Int.self, name: "region-cache-stats")
        for try await request in context.requests(Record.self) {
            var record = request.value
            let network = record.ip.split(separator: ".").prefix(2).joined(separator: ".")
            if let region = try await cache.get(network) {
                record.region = region
                _ = try await stats.increment("hits", by: 1)
            } else {
                try await Task.sleep(for: .milliseconds(1))          // the slow lookup
                let region = LogLines.region(ofNetwork: network)
                // Another worker may have looked it up meanwhile: the first answer stays.
                record.region = try await cache.setDefault(network, region)
                _ = try await stats.increment("misses", by: 1)
            }
            try request.reply([record])
        }
    }
}

/// `aggregate`: keys each record for the tally: one line "REGION STATUS-CLASS BYTES MS" per
/// request, which the sink writes and `LogPipelineStages summarize` adds up.
struct Aggregate: Worker {
    func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(Record.self) {
            let record = request.value
            try request.reply(["\(record.region ?? "unknown") \(LogLines.statusClass(record.status)) \(record.bytes) \(record.ms)"])
        }
    }
}
