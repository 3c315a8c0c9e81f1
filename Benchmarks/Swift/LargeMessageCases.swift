import FoundationEssentials
import Multiprocessing

// One large message from a child to the parent (issue 10, section 4). Python peer:
// Benchmarks/python/cases_large.py.

/// The message's size: 64 MiB less room for the frame's envelope and bin header, so that the
/// frame fits the default maximum frame size (64 MiB).
let largeMessageSize = (64 << 20) - 64

/// Answers every request (a size) with that many bytes, built once.
struct BenchBlob: Worker {
    func run(_ context: WorkerContext) async throws {
        var blob = Data()
        for try await request in context.requests(Int.self) {
            if blob.count != request.value { blob = Data(repeating: 0x5a, count: request.value) }
            try request.reply(blob)
        }
    }
}

let largeMessageWorkers: [any Worker.Type] = [BenchBlob.self]

let largeMessageCases: [BenchmarkCase] = [
    BenchmarkCase(name: "large_message", unit: .milliseconds,
                  summary: "a worker answers a request with 64 MiB (less 64 bytes) of bin: the frame crosses two pipes and the supervisor, decoded as Data in the parent; one op = request + the whole message received") { settings in
        let blob = try await ChildProcess.start(BenchBlob.self)
        let warm = try await blob.request(largeMessageSize, as: Data.self)
        guard warm.count == largeMessageSize else { throw BenchmarkFailure("the worker sent \(warm.count) bytes") }
        var samples: [Double] = []
        let perSample = settings.sampleSeconds < 0.2 ? 1 : 3
        for _ in 0..<settings.samples {
            let start = monotonicSeconds()
            for _ in 0..<perSample { blackHole(try await blob.request(largeMessageSize, as: Data.self).count) }
            samples.append((monotonicSeconds() - start) * 1e3 / Double(perSample))
        }
        blob.closeMailbox()
        try await blob.join()
        return BenchmarkReport(samples: samples, info: ["bytes": String(largeMessageSize), "messages_per_sample": String(perSample)])
    },
]
