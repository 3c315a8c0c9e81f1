import CoreMetrics
import Foundation
import Multiprocessing
import Synchronization

// MPChaos: a mixed load (a pool map, a JoinableQueue with supervised consumers, manager
// increments, shared counters under a lock, a Python worker, mpctl pipelines) while random
// workers are killed with SIGKILL or SIGTERM; then the checks. Run through Benchmarks/chaos.
//
//   MPChaos [--seconds N] [--json FILE] [--seed S] [--kill-every-ms M] [--samples FILE] [--lanes a,b,...]
//
// --kill-every-ms 0 kills nothing (the soak, Benchmarks/soak); --samples FILE writes the RSS of
// the runner and of all its workers together, once a second, as JSON.
//
// Exits 0 only if there were no hangs, nothing lost, no unreported duplicate and no leak.

let metrics = CountingMetrics()
// Children (this executable started again) run their entry inside bootstrap; only the
// runner itself counts the runtime's metrics.
if ProcessInfo.processInfo.environment["MP_ENTRY"] == nil { MetricsSystem.bootstrap(metrics) }
try await Multiprocessing.bootstrap(functions: chaosEntries)

struct Settings {
    var seconds = 60.0
    var json: String?
    var seed = UInt64(UInt32.random(in: 1...UInt32.max))
    var killEveryMilliseconds = 250
    var lanes = ["pool", "queue", "manager", "lock", "python", "mpctl"]
    var samples: String?

    static let usage = "usage: MPChaos [--seconds N] [--json FILE] [--seed S] [--kill-every-ms M (0: no kills)] [--samples FILE] [--lanes pool,queue,manager,lock,python,mpctl]"

    init(_ arguments: [String]) {
        var rest = arguments[...]
        func value() -> String {
            guard let next = rest.popFirst() else { fail(Settings.usage, status: 2) }
            return next
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--seconds": seconds = Double(value()) ?? { fail(Settings.usage, status: 2) }()
            case "--json": json = value()
            case "--seed": seed = UInt64(value()) ?? { fail(Settings.usage, status: 2) }()
            case "--kill-every-ms": killEveryMilliseconds = Int(value()) ?? { fail(Settings.usage, status: 2) }()
            case "--samples": samples = value()
            case "--lanes": lanes = value().split(separator: ",").map(String.init)
            case "-h", "--help": print(Settings.usage); exit(0)
            default: fail(Settings.usage, status: 2)
            }
        }
    }
}

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(status)
}

let settings = Settings(Array(CommandLine.arguments.dropFirst()))
let tally = Tally()
let me = getpid()
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
let pythonScript = FileManager.default.currentDirectoryPath + "/Protocols/python/worker.py"

print("MPChaos: \(settings.seconds) s, seed \(settings.seed), a kill every ~\(settings.killEveryMilliseconds) ms, lanes \(settings.lanes.joined(separator: ","))")

// A warm-up first: the runtime keeps for its whole life a few things it makes at first use
// (its event loops, the fork server, the segment tracker and its arena). Then the baseline:
// what everything must be back to at the end.
do {
    let child = try await ChildProcess.start(chaosTransform, 1)
    _ = try await child.value
    _ = try await child.join()
    let atomic = try SharedAtomic<Int>(0)
    try atomic.free()
    let manager = try Manager()
    _ = try await manager.dictionary(String.self, Int.self, name: "chaos-warm-up").get("x")
    let queue = try Queue<Int>()
    try await queue.put(1)
    _ = try await queue.get()
    let pool = try await ProcessPool(chaosTransform, workers: 1)
    _ = try await pool.apply(1)
    pool.close()
    await pool.join()
    // Foundation's Process (the mpctl lane runs mpctl with it) keeps a monitor thread with its
    // own descriptors from its first use.
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    try process.run()
    process.waitUntilExit()
} catch {
    fail("MPChaos: the warm-up failed: \(error)", status: 1)
}
try? await Task.sleep(for: .milliseconds(300))
let processesBefore = Set(Observe.descendants(of: getpid()).map(\.pid))
let descriptorsBefore = Observe.openDescriptorTargets()
let segmentsBefore = Observe.segments()

var lanes: [any Lane] = []
var skipped: [String: String] = [:]
do {
    for name in settings.lanes {
        switch name {
        case "pool": lanes.append(try await PoolLane(tally: tally))
        case "queue": lanes.append(try await QueueLane(tally: tally, metrics: metrics))
        case "manager": lanes.append(try await ManagerLane(tally: tally))
        case "lock": lanes.append(try await LockLane(tally: tally))
        case "python":
            if FileManager.default.fileExists(atPath: pythonScript) {
                lanes.append(try await PythonLane(tally: tally, script: pythonScript))
            } else {
                skipped[name] = "\(pythonScript) not found (run from the package root)"
            }
        case "mpctl":
            if FileManager.default.isExecutableFile(atPath: binDirectory + "/mpctl"),
               FileManager.default.isExecutableFile(atPath: binDirectory + "/Supervision") {
                lanes.append(try PipelineLane(tally: tally, binDirectory: binDirectory))
            } else {
                skipped[name] = "mpctl and Supervision are not built beside MPChaos (\(binDirectory))"
            }
        default: fail("MPChaos: no lane \(name)\n\(Settings.usage)", status: 2)
        }
    }
} catch {
    fail("MPChaos: a lane could not start: \(error)", status: 1)
}
for (name, reason) in skipped.sorted(by: { $0.key < $1.key }) { print("[chaos] lane \(name) skipped: \(reason)") }

let clock = ContinuousClock()
let start = clock.now
let deadline = start + .milliseconds(Int(settings.seconds * 1000))
// The root's memory once everything runs (a tenth of the way in): growth is measured from there.
let rssBaseline = Atomic<Int>(0)

/// Shoots a random worker of a random lane every so often until the deadline.
func killer(_ lanes: [any Lane]) async {
    guard settings.killEveryMilliseconds > 0 else { return }
    var random = SeededGenerator(state: settings.seed)
    while clock.now < deadline {
        let pause = Int.random(in: settings.killEveryMilliseconds / 2...settings.killEveryMilliseconds * 3 / 2, using: &random)
        try? await Task.sleep(for: .milliseconds(pause))
        var targets: [(lane: String, pids: [Int32])] = []
        for lane in lanes {
            let pids = await lane.victims()
            if !pids.isEmpty { targets.append((lane.name, pids)) }
        }
        guard let target = targets.randomElement(using: &random), let pid = target.pids.randomElement(using: &random) else { continue }
        let signal = Int.random(in: 0..<4, using: &random) == 0 ? SIGTERM : SIGKILL
        if kill(pid, signal) == 0 { tally.update(target.lane) { $0.killed += 1 } }
    }
}

/// One sample a second: seconds since the start, the runner's RSS and its descendants' together (MiB).
struct Sample: Sendable { var seconds: Double; var root: Double; var workers: Double }

func sampler() async -> [Sample] {
    var samples: [Sample] = []
    var next = start
    while clock.now < deadline {
        let root = Double(Observe.residentBytes()) / 1_048_576
        let workers = Double(Observe.descendants(of: me).reduce(0) { $0 + Observe.residentBytes(of: $1.pid) }) / 1_048_576
        let elapsed = clock.now - start
        samples.append(Sample(seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                              root: root, workers: workers))
        if rssBaseline.load(ordering: .relaxed) == 0, elapsed > .milliseconds(Int(settings.seconds * 100)) {
            rssBaseline.store(Observe.residentBytes(), ordering: .relaxed)
        }
        next += .seconds(1)
        try? await Task.sleep(until: next)
    }
    return samples
}

let samples = await withTaskGroup(of: [Sample].self) { group in
    for lane in lanes { group.addTask { await lane.run(until: deadline); return [] } }
    group.addTask { await killer(lanes); return [] }
    group.addTask { await sampler() }
    var all: [Sample] = []
    for await part in group { all += part }
    return all
}
if let path = settings.samples {
    let rows = samples.map { ["seconds": ($0.seconds * 10).rounded() / 10, "root_mib": ($0.root * 100).rounded() / 100,
                              "workers_mib": ($0.workers * 100).rounded() / 100] }
    let document: [String: Any] = ["seconds": settings.seconds, "lanes": settings.lanes, "samples": rows]
    try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
}
let loadEnded = clock.now
for lane in lanes { await lane.finish() }
let rssEnd = Observe.residentBytes()

// Leaks: every process under this one must be gone (the fork server, which the runtime keeps
// until exit, aside), no zombie; descriptors and /dev/shm back to the baseline.
func leftovers() -> [Observe.ProcessEntry] {
    Observe.descendants(of: me).filter { !processesBefore.contains($0.pid) || $0.state == "Z" }
}
var left = leftovers()
let settle = clock.now + .seconds(10)
while !left.isEmpty, clock.now < settle {
    try? await Task.sleep(for: .milliseconds(100))
    left = leftovers()
}
func extraDescriptors() -> [Int32: String] { Observe.openDescriptorTargets().filter { descriptorsBefore[$0.key] != $0.value } }
var leakedDescriptors = extraDescriptors()
while !leakedDescriptors.isEmpty, clock.now < settle {
    try? await Task.sleep(for: .milliseconds(100))
    leakedDescriptors = extraDescriptors()
}
// Any new name counts: this machine's other users of /dev/shm should not run beside a chaos run.
let extraSegments = Observe.segments().subtracting(segmentsBefore)
for process in left { tally.problem("leaks", "process \(process.pid) (parent \(process.parent), state \(process.state)) is still there") }
for (fd, target) in leakedDescriptors.sorted(by: { $0.key < $1.key }) { tally.problem("leaks", "descriptor \(fd) (\(target)) is still open") }
for segment in extraSegments.sorted() { tally.problem("leaks", "segment /dev/shm/\(segment) is still there") }

// The report.
let snapshot = tally.snapshot()
let laneNames = lanes.map(\.name)
func sum(_ field: KeyPath<Tally.Lane, Int>) -> Int { snapshot.values.reduce(0) { $0 + $1[keyPath: field] } }
let baseline = rssBaseline.load(ordering: .relaxed)
let rssGrowth = Double(max(0, rssEnd - (baseline == 0 ? rssEnd : baseline))) / 1_048_576
let report: [String: Any] = [
    "seconds": settings.seconds,
    "seed": settings.seed,
    "hangs": sum(\.hangs),
    "lost": sum(\.lost),
    "duplicates": sum(\.duplicates),
    "leaked_processes": left.count,
    "leaked_fds": leakedDescriptors.count,
    "leaked_segments": extraSegments.count,
    "killed": sum(\.killed),
    "tasks": sum(\.tasks),
    "redelivered": sum(\.redelivered),
    "queue_items_redelivered": metrics.total("mp_queue_redelivered"),
    "reported_failures": sum(\.reported),
    "explained_counter_gaps": sum(\.explained),
    "rss_growth_mib": (rssGrowth * 10).rounded() / 10,
    "rss_end_mib": (Double(rssEnd) / 1_048_576 * 10).rounded() / 10,
    "stop_seconds": Double((clock.now - loadEnded).components.seconds),
    "skipped": skipped,
    "lanes": Dictionary(uniqueKeysWithValues: (laneNames + (snapshot["leaks"] == nil ? [] : ["leaks"])).map { name -> (String, Any) in
        let lane = snapshot[name] ?? Tally.Lane()
        return (name, ["tasks": lane.tasks, "killed": lane.killed, "reported": lane.reported, "redelivered": lane.redelivered,
                       "lost": lane.lost, "duplicates": lane.duplicates, "hangs": lane.hangs, "explained": lane.explained,
                       "problems": lane.problems] as [String: Any])
    }),
]

func row(_ cells: [String]) -> String {
    zip(cells.indices, [8, 10, 7, 9, 12, 5, 11, 6]).map { index, width in
        let cell = cells[index], pad = String(repeating: " ", count: max(0, width - cell.count))
        return index == 0 ? cell + pad : pad + cell
    }.joined(separator: " ")
}
print(row(["lane", "tasks", "killed", "reported", "redelivered", "lost", "duplicates", "hangs"]))
for name in laneNames {
    let lane = snapshot[name] ?? Tally.Lane()
    print(row([name] + [lane.tasks, lane.killed, lane.reported, lane.redelivered, lane.lost, lane.duplicates, lane.hangs].map(String.init)))
}
print("leaks: \(left.count) processes, \(leakedDescriptors.count) descriptors, \(extraSegments.count) segments; RSS of the root \(report["rss_end_mib"]!) MiB, grew \(report["rss_growth_mib"]!) MiB")
if let path = settings.json {
    let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
}
let clean = sum(\.hangs) == 0 && sum(\.lost) == 0 && sum(\.duplicates) == 0 && left.isEmpty && leakedDescriptors.isEmpty && extraSegments.isEmpty
print(clean ? "MPChaos: clean" : "MPChaos: FAILED (see the problems above)")
exit(clean ? 0 : 1)
