// Counters that several processes increment at once, kept exact. Every worker increments two
// counters: a `SharedValue<Int>` in shared memory, under its lock, and a key of a manager
// dictionary, with the manager's atomic `increment` (one request: the manager adds and
// answers). The workers report on a `Queue`; the program prints the totals and checks them.
// `--unsafe` reads, then writes the sum, without the lock (Python's `d[k] += 1` on a proxy):
// the totals come out short by the updates the workers overwrote.
// Run it with `swift run SharedCounter [--workers N] [--increments N] [--unsafe]`.
import Glibc
import Multiprocessing

// A child is this program started again: a worker runs `incrementCounters` here and never
// returns. Nothing before this line may have side effects.
try await Multiprocessing.bootstrap(functions: [incrementCounters])

let settings: Settings
do {
    settings = try Settings(parsing: Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("SharedCounter: \(error)\n\(Settings.usage)", status: 2)
}
if settings.showHelp {
    print(Settings.usage)
    exit(0)
}

let expected = settings.workers * settings.increments
let how = settings.unsafe ? "unsafe: read, then write the sum, without the lock"
                          : "under the value's lock, and the manager's atomic increment"
print("\(settings.workers) workers, \(settings.increments) increments of each counter each (\(how))")

let totals: (value: Int, dictionary: Int)
do {
    totals = try await count(settings)
} catch {
    fail("SharedCounter: \(error)", status: 1)
}
print(line("shared value", totals.value, of: expected))
print(line("manager dictionary", totals.dictionary, of: expected))
if settings.unsafe {
    print("lost updates: \(expected - totals.value) in the shared value, \(expected - totals.dictionary) in the manager dictionary")
} else if totals.value == expected && totals.dictionary == expected {
    print("check: OK")
} else {
    fail("check: FAILED: \(totals.value) and \(totals.dictionary), not \(expected)", status: 1)
}

/// Starts the workers, prints their reports as they come, joins them, and returns both totals.
func count(_ settings: Settings) async throws -> (value: Int, dictionary: Int) {
    let manager = try Manager()
    let hits = try await manager.dictionary(String.self, Int.self)
    try await hits.set(totalKey, 0)
    let value = try SharedValue<Int>(0)
    defer { try? value.free() }
    let start = try Barrier(parties: settings.workers)
    let reports = try Queue<WorkerReport>()
    var workers: [ProcessTask<Void>] = []
    for worker in 1...settings.workers {
        let job = CounterJob(worker: worker, increments: settings.increments, unsafe: settings.unsafe,
                             value: value, hits: hits, start: start, reports: reports)
        workers.append(try await ChildProcess.start(incrementCounters, job, options: ProcessOptions(name: "worker-\(worker)")))
    }
    for _ in 1...settings.workers {
        let report = try await reports.get()
        print("worker \(report.worker): \(report.increments) increments of each in \(report.milliseconds) ms")
    }
    for worker in workers {
        try await worker.value   // rethrows a worker's error
        _ = try await worker.join()
    }
    return (try value.load(), try await hits.get(totalKey) ?? 0)
}

/// "name: total of expected", and how many were lost if any.
func line(_ name: String, _ total: Int, of expected: Int) -> String {
    let label = "\(name):" + String(repeating: " ", count: max(1, 20 - name.count - 1))
    return "\(label)\(total) of \(expected)" + (total == expected ? "" : " (\(expected - total) lost)")
}

/// Prints `message` on standard error and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
    var standardError = StandardError()
    print(message, to: &standardError)
    exit(status)
}

/// Standard error, for `print(_:to:)`: written straight to descriptor 2.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var text = string
        text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}
