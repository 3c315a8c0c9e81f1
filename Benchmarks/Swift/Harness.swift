#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The measuring side of MPBenchmarks: what a case is, how samples are taken, and the one JSON
// line printed per case. Cases live in their own files and are listed in Registry.swift.

/// What a figure measures, which decides how the driver computes its ratio: a rate ends in
/// "/s" and a share is "%" (higher is better), a time is "us" or "ms" (lower is better).
struct BenchmarkUnit: Sendable, CustomStringConvertible {
    let symbol: String
    static let opsPerSecond = BenchmarkUnit(symbol: "op/s")
    static let framesPerSecond = BenchmarkUnit(symbol: "frames/s")
    static let messagesPerSecond = BenchmarkUnit(symbol: "msg/s")
    static let tasksPerSecond = BenchmarkUnit(symbol: "task/s")
    static let incrementsPerSecond = BenchmarkUnit(symbol: "inc/s")
    static let microseconds = BenchmarkUnit(symbol: "us")
    static let milliseconds = BenchmarkUnit(symbol: "ms")
    /// A share of an ideal (an efficiency); such a case computes its samples itself.
    static let percent = BenchmarkUnit(symbol: "%")

    var isRate: Bool { symbol.hasSuffix("/s") }
    var description: String { symbol }

    /// The figure for `operations` done in `seconds`, in this unit.
    func value(operations: Int, seconds: Double) -> Double {
        switch symbol {
        case "us": return seconds * 1e6 / Double(operations)
        case "ms": return seconds * 1e3 / Double(operations)
        default: return Double(operations) / seconds
        }
    }
}

/// How long and how often to measure.
struct BenchmarkSettings: Sendable {
    /// Samples taken; the median is reported.
    var samples: Int
    /// Wall time one sample aims for, in seconds.
    var sampleSeconds: Double
    /// Untimed warm-up before the first sample, in seconds.
    var warmupSeconds: Double

    static let full = BenchmarkSettings(samples: 7, sampleSeconds: 0.3, warmupSeconds: 0.2)
    static let quick = BenchmarkSettings(samples: 5, sampleSeconds: 0.1, warmupSeconds: 0.05)
}

/// One named measurement. `run` does any set-up (untimed) and returns the samples, each in
/// `unit`; the harness reports their median. Most cases use ``BenchmarkCase/throughput``,
/// which handles calibration; a case with its own timing (latency percentiles, a process
/// pool) can take its samples itself.
struct BenchmarkCase: Sendable {
    let name: String
    let unit: BenchmarkUnit
    /// One line: what exactly is measured.
    let summary: String
    let run: @Sendable (BenchmarkSettings) async throws -> BenchmarkReport
}

/// What a case hands back: its samples plus optional extra facts (sizes, checksums) that are
/// printed with the result.
struct BenchmarkReport: Sendable {
    var samples: [Double]
    var info: [String: String] = [:]
}

/// Work timed in batches: `iteration` does `operationsPerIteration` operations once and
/// returns something derived from the result, fed to ``blackHole`` so the work stays.
struct Workload {
    var operationsPerIteration: Int = 1
    var info: [String: String] = [:]
    var iteration: () throws -> Int
}

extension BenchmarkCase {
    /// A case timed as `iterations × operationsPerIteration` operations per sample, the
    /// iteration count calibrated so that one sample takes about `sampleSeconds`.
    static func throughput(_ name: String, unit: BenchmarkUnit, _ summary: String,
                           setUp: @escaping @Sendable () throws -> Workload) -> BenchmarkCase {
        BenchmarkCase(name: name, unit: unit, summary: summary) { settings in
            let workload = try setUp()
            let iterations = try calibrate(workload, settings: settings)
            var samples: [Double] = []
            for _ in 0..<settings.samples {
                let seconds = try timeIterations(workload, iterations)
                samples.append(unit.value(operations: iterations * workload.operationsPerIteration, seconds: seconds))
            }
            var info = workload.info
            info["iterations_per_sample"] = String(iterations)
            return BenchmarkReport(samples: samples, info: info)
        }
    }
}

/// Runs the workload untimed for the warm-up, then picks an iteration count for one sample.
private func calibrate(_ workload: Workload, settings: BenchmarkSettings) throws -> Int {
    var iterations = 1
    var spent = 0.0
    var perIteration = Double.infinity
    // Double the batch until it is long enough to estimate from, warming up on the way.
    while true {
        let seconds = try timeIterations(workload, iterations)
        spent += seconds
        perIteration = min(perIteration, seconds / Double(iterations))
        if seconds >= 0.02 && spent >= settings.warmupSeconds { break }
        if seconds < 0.02 { iterations *= 2 }
    }
    return max(1, Int((settings.sampleSeconds / perIteration).rounded()))
}

private func timeIterations(_ workload: Workload, _ iterations: Int) throws -> Double {
    var sink = 0
    let start = monotonicSeconds()
    for _ in 0..<iterations { sink &+= try workload.iteration() }
    let seconds = monotonicSeconds() - start
    blackHole(sink)
    return seconds
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// Keeps a value alive as far as the optimizer can tell.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

func median(_ values: [Double]) -> Double {
    precondition(!values.isEmpty)
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

// MARK: - Output: one JSON object per line

/// {"side":"swift","name":..,"unit":..,"median":..,"samples":[..],"info":{..}}
func resultLine(_ benchmark: BenchmarkCase, _ report: BenchmarkReport) -> String {
    var fields = [
        "\"side\":\"swift\"",
        "\"name\":\(jsonString(benchmark.name))",
        "\"unit\":\(jsonString(benchmark.unit.symbol))",
        "\"median\":\(jsonNumber(median(report.samples)))",
        "\"samples\":[\(report.samples.map(jsonNumber).joined(separator: ","))]",
    ]
    if !report.info.isEmpty {
        let info = report.info.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
        fields.append("\"info\":{\(info.joined(separator: ","))}")
    }
    return "{" + fields.joined(separator: ",") + "}"
}

/// {"side":"swift","name":..,"error":..}
func errorLine(_ name: String, _ error: any Error) -> String {
    "{\"side\":\"swift\",\"name\":\(jsonString(name)),\"error\":\(jsonString(String(describing: error)))}"
}

func jsonNumber(_ value: Double) -> String {
    // Swift's shortest round-trip form is valid JSON ("1234.5", "1.5e-07"); NaN/inf are not.
    value.isFinite ? value.description : "null"
}

func jsonString(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case let c where c.value < 0x20:
            let hex = String(c.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
