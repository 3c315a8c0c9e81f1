import Foundation
import Multiprocessing
import Synchronization

/// One kind of load: started, run until the deadline while the killer shoots its workers,
/// then stopped and checked into the tally.
protocol Lane: Sendable {
    var name: String { get }
    /// The pids the killer may shoot now.
    func victims() async -> [Int32]
    /// The load, until `deadline`.
    func run(until deadline: ContinuousClock.Instant) async
    /// Stops the load and checks what it did.
    func finish() async
}

/// How long any single await may take before it counts as a hang: far above what a kill and
/// a restart cost, so only something stuck reaches it.
let hangLimit: Duration = .seconds(30)

// MARK: pool

/// `ProcessPool.map` over batches whose every output is checked: an input missing or wrong is
/// lost; one whose retries ran out is reported (the map's error names it).
final class PoolLane: Lane {
    let name = "pool"
    private let pool: ProcessPool<Int, Int>
    private let tally: Tally

    init(tally: Tally) async throws {
        self.tally = tally
        pool = try await ProcessPool(chaosTransform, workers: 3, options: PoolOptions(retries: 8))
    }

    func victims() async -> [Int32] { await pool.workers.map(\.pid) }

    func run(until deadline: ContinuousClock.Instant) async {
        var next = 0
        while ContinuousClock.now < deadline {
            let inputs = Array(next..<next + 48)
            next += 48
            do {
                guard let outputs = try await bounded(name, "pool map", hangLimit, tally, { [pool] in
                    try await pool.map(inputs, chunkSize: 4)
                }) else { continue }
                check(inputs, outputs)
            } catch let error as PoolMapError {
                let failed = Set(error.failures.compactMap(\.index))
                tally.update(name) {
                    $0.reported += failed.count
                    $0.tasks += inputs.count - failed.count
                }
                if error.failures.contains(where: { $0.code != .workerDied }) {
                    tally.problem(name, "a failure other than a worker's death: \(error)")
                }
            } catch {
                tally.problem(name, "map failed: \(error)")
                tally.update(name) { $0.lost += inputs.count }
            }
        }
    }

    private func check(_ inputs: [Int], _ outputs: [Int]) {
        var wrong = abs(inputs.count - outputs.count)
        for (input, output) in zip(inputs, outputs) where output != ChaosCheck.transform(input) { wrong += 1 }
        if wrong > 0 { tally.problem(name, "\(wrong) outputs missing or wrong in a batch of \(inputs.count)") }
        tally.update(name) {
            $0.lost += wrong
            $0.tasks += inputs.count - wrong
        }
    }

    func finish() async {
        pool.close()
        if (try? await bounded(name, "pool join", hangLimit, tally, { [pool] in await pool.join() })) == nil {
            await pool.terminate()
        }
    }
}

// MARK: queue

/// Jobs on a `JoinableQueue` taken by two supervised consumers that report each on a `Queue`.
/// Every job put must come back; one that comes back twice must have been redelivered.
final class QueueLane: Lane {
    let name = "queue"
    private let jobs: JoinableQueue<Int>
    private let done: Queue<Int>
    private let supervisor: Supervisor
    private let tally: Tally
    private let metrics: CountingMetrics
    /// How often each job at or above `window.floor` came back; jobs below it were checked
    /// already (a soak runs for an hour: the table must not grow with it).
    private let window = Mutex(Window())
    private let collecting = Atomic<Bool>(true)
    private let collector = Mutex<Task<Void, Never>?>(nil)

    private struct Window {
        var floor = 0
        var seen: [Int: Int] = [:]
        var missing = 0
        var extra = 0
        var checked = 0

        mutating func arrived(_ item: Int) {
            if item < floor { extra += 1 } else { seen[item, default: 0] += 1 }
        }

        /// Whether a job below `top` has not come back yet.
        func unseen(below top: Int) -> Bool {
            top > floor && (floor..<top).contains { seen[$0] == nil }
        }

        /// Checks the jobs below `top`: each must have come back once (more is extra).
        mutating func check(below top: Int) {
            guard top > floor else { return }
            for item in floor..<top {
                if let count = seen.removeValue(forKey: item) { extra += count - 1 } else { missing += 1 }
            }
            checked += top - floor
            floor = top
        }
    }

    init(tally: Tally, metrics: CountingMetrics) async throws {
        self.tally = tally
        self.metrics = metrics
        jobs = try JoinableQueue<Int>(maxsize: 64)
        done = try Queue<Int>()
        let job = ConsumerJob(jobs: jobs, done: done)
        supervisor = Supervisor(strategy: .oneForOne, intensity: 100_000, period: .seconds(1), children: [
            .function("consumer-1", chaosConsume, job, shutdown: .brutalKill),
            .function("consumer-2", chaosConsume, job, shutdown: .brutalKill),
        ])
        try await supervisor.start()
        let task = Task { [self] in
            while true {
                do {
                    let item = try await done.get(timeout: .milliseconds(200))
                    window.withLock { $0.arrived(item) }
                } catch {
                    if !collecting.load(ordering: .relaxed) { return }
                }
            }
        }
        collector.withLock { $0 = task }
    }

    func victims() async -> [Int32] {
        var pids: [Int32] = []
        for id in ["consumer-1", "consumer-2"] { if let child = await supervisor.child(id) { pids.append(child.pid) } }
        return pids
    }

    func run(until deadline: ContinuousClock.Instant) async {
        var next = 0
        var joinedUpTo = 0
        while ContinuousClock.now < deadline {
            do {
                for _ in 0..<40 {
                    guard try await bounded(name, "put", hangLimit, tally, { [jobs, next] in try await jobs.put(next) }) != nil else { return }
                    next += 1
                }
                guard try await bounded(name, "join", hangLimit, tally, { [jobs] in try await jobs.join() }) != nil else { return }
                // Every job of the batch before was reported before its taskDone, so it is on
                // `done` by now: once the collector has read it, that batch is checked and forgotten.
                let settle = ContinuousClock.now + .seconds(10)
                while window.withLock({ $0.unseen(below: joinedUpTo) }), ContinuousClock.now < settle {
                    try? await Task.sleep(for: .milliseconds(2))
                }
                window.withLock { $0.check(below: joinedUpTo) }
                joinedUpTo = next
            } catch {
                tally.problem(name, "the producer failed: \(error)")
                return
            }
        }
        put.store(next, ordering: .relaxed)
    }

    /// Jobs put in all.
    private let put = Atomic<Int>(0)

    func finish() async {
        await supervisor.shutdown()
        // What the consumers reported last is read before the count.
        collecting.store(false, ordering: .relaxed)
        await collector.withLock { $0 }?.value
        let total = put.load(ordering: .relaxed)
        let (missing, extra) = window.withLock { window -> (Int, Int) in
            window.check(below: total)
            return (window.missing, window.extra)
        }
        let redelivered = Int(metrics.total("mp_queue_redelivered"))
        if missing > 0 { tally.problem(name, "\(missing) of \(total) jobs never came back") }
        if extra > redelivered { tally.problem(name, "\(extra) jobs came back twice, \(redelivered) were redelivered") }
        tally.update(name) {
            $0.tasks += total - missing
            $0.lost += missing
            $0.redelivered += min(extra, redelivered)
            $0.duplicates += max(0, extra - redelivered)
        }
    }
}

// MARK: counters

/// Two supervised workers increment one manager-dictionary key, each counting its
/// acknowledged increments in shared memory. The total may exceed the acknowledgements by at
/// most one per kill of a worker (an increment applied, its worker killed before counting it).
final class ManagerLane: Lane {
    let name = "manager"
    private let hits: SharedDictionary<String, Int>
    private let acknowledged: [SharedAtomic<Int>]
    private let stop: SharedAtomic<Int>
    private let supervisor: Supervisor
    private let tally: Tally
    private let ids = ["incrementer-1", "incrementer-2"]

    init(tally: Tally) async throws {
        self.tally = tally
        let manager = try Manager()
        hits = try await manager.dictionary(String.self, Int.self, name: "chaos-hits")
        try await hits.set(ChaosCheck.key, 0)
        acknowledged = try ids.map { _ in try SharedAtomic<Int>(0) }
        let stop = try SharedAtomic<Int>(0)
        self.stop = stop
        let hits = self.hits
        supervisor = Supervisor(strategy: .oneForOne, intensity: 100_000, period: .seconds(1), children: zip(ids, acknowledged).map { id, slot in
            .function(id, chaosIncrement, CounterJob(hits: hits, acknowledged: slot, stop: stop), restart: .transient, shutdown: .brutalKill)
        })
        try await supervisor.start()
    }

    func victims() async -> [Int32] {
        var pids: [Int32] = []
        for id in ids { if let child = await supervisor.child(id) { pids.append(child.pid) } }
        return pids
    }

    func run(until deadline: ContinuousClock.Instant) async {
        try? await Task.sleep(until: deadline)
    }

    func finish() async {
        try? stop.store(1)
        await supervisor.drain(grace: .seconds(10))
        do {
            guard let total = try await bounded(name, "get", hangLimit, tally, { [hits] in try await hits.get(ChaosCheck.key) ?? 0 }) else { return }
            let acknowledgedTotal = try acknowledged.reduce(0) { $0 + (try $1.load()) }
            let killed = tally.snapshot()[name]?.killed ?? 0
            record(tally, name, total: total, acknowledged: acknowledgedTotal, bound: killed + ids.count, what: "kills")
            for slot in acknowledged { try? slot.free() }
            try? stop.free()
        } catch {
            tally.problem(name, "reading the totals failed: \(error)")
        }
    }
}

/// Two supervised workers add one to a `SharedValue` and to their own slot under its lock.
/// The value may exceed the slots by at most the owner-died recoveries (a holder killed
/// between the two).
final class LockLane: Lane {
    let name = "lock"
    private let value: SharedValue<Int>
    private let acknowledged: [SharedAtomic<Int>]
    private let recoveries: SharedAtomic<Int>
    private let stop: SharedAtomic<Int>
    private let supervisor: Supervisor
    private let tally: Tally
    private let ids = ["adder-1", "adder-2"]

    init(tally: Tally) async throws {
        self.tally = tally
        let value = try SharedValue<Int>(0)
        let recoveries = try SharedAtomic<Int>(0)
        let stop = try SharedAtomic<Int>(0)
        (self.value, self.recoveries, self.stop) = (value, recoveries, stop)
        acknowledged = try ids.map { _ in try SharedAtomic<Int>(0) }
        supervisor = Supervisor(strategy: .oneForOne, intensity: 100_000, period: .seconds(1), children: zip(ids, acknowledged).map { id, slot in
            .function(id, chaosLockedAdd, LockedJob(value: value, acknowledged: slot, recoveries: recoveries, stop: stop),
                      restart: .transient, shutdown: .brutalKill)
        })
        try await supervisor.start()
    }

    func victims() async -> [Int32] {
        var pids: [Int32] = []
        for id in ids { if let child = await supervisor.child(id) { pids.append(child.pid) } }
        return pids
    }

    func run(until deadline: ContinuousClock.Instant) async {
        try? await Task.sleep(until: deadline)
    }

    func finish() async {
        try? stop.store(1)
        await supervisor.drain(grace: .seconds(10))
        do {
            // Read under the lock, recovering if the last holder died in it.
            let total = try value.withLock(recovering: { _ in _ = try recoveries.add(1) }) { $0 }
            let acknowledgedTotal = try acknowledged.reduce(0) { $0 + (try $1.load()) }
            record(tally, name, total: total, acknowledged: acknowledgedTotal, bound: try recoveries.load(), what: "owner-died recoveries")
            for slot in acknowledged { try? slot.free() }
            try? recoveries.free()
            try? stop.free()
            try? value.free()
        } catch {
            tally.problem(name, "reading the totals failed: \(error)")
        }
    }
}

/// A counter's check: `total - acknowledged` must lie in 0...bound.
private func record(_ tally: Tally, _ lane: String, total: Int, acknowledged: Int, bound: Int, what: String) {
    let gap = total - acknowledged
    if gap < 0 { tally.problem(lane, "the total \(total) is below the \(acknowledged) acknowledged updates") }
    if gap > bound { tally.problem(lane, "the total \(total) is \(gap) above the acknowledged \(acknowledged), more than the \(bound) \(what) explain") }
    tally.update(lane) {
        $0.tasks += acknowledged
        $0.explained += max(0, min(gap, bound))
        $0.lost += max(0, -gap)
        $0.duplicates += max(0, gap - bound)
    }
}

// MARK: a foreign worker

/// Protocols/python/worker.py (an echo worker in Python) under a supervisor, asked one request
/// after another: an answer must be the request; a request to a worker that died fails with a
/// typed error (reported) and the next goes to its successor.
final class PythonLane: Lane {
    let name = "python"
    private let supervisor: Supervisor
    private let tally: Tally

    init(tally: Tally, script: String) async throws {
        self.tally = tally
        supervisor = Supervisor(strategy: .oneForOne, intensity: 100_000, period: .seconds(1), children: [
            .executable("python-echo", "/usr/bin/env", arguments: ["python3", script], shutdown: .brutalKill),
        ])
        try await supervisor.start()
    }

    func victims() async -> [Int32] {
        guard let child = await supervisor.child("python-echo") else { return [] }
        // /usr/bin/env execs python3 in place: the child's pid is the interpreter's.
        return [child.pid]
    }

    func run(until deadline: ContinuousClock.Instant) async {
        var next = 0
        while ContinuousClock.now < deadline {
            guard let child = await supervisor.child("python-echo"), child.isAlive else {
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            next += 1
            do {
                guard let answer = try await bounded(name, "request", hangLimit, tally, { [next] in
                    try await child.request(next, as: Int.self, timeout: hangLimit)
                }) else { continue }
                if answer == next {
                    tally.update(name) { $0.tasks += 1 }
                } else {
                    tally.problem(name, "request \(next) was answered \(answer)")
                    tally.update(name) { $0.lost += 1 }
                }
            } catch let error as ProcessError where error.code == .timedOut {
                tally.hang(name, "request \(next) (\(error))")
            } catch is ProcessError {
                tally.update(name) { $0.reported += 1 }
            } catch {
                tally.problem(name, "request \(next) failed with \(error)")
                tally.update(name) { $0.lost += 1 }
            }
        }
    }

    func finish() async { await supervisor.shutdown() }
}

// MARK: mpctl

/// `mpctl run --json` on a pipeline (a range, squared by two `Supervision` Flaky workers, to a
/// file), one run after another: each must complete (exit 0) with every square in the file,
/// a square written twice only if mpctl reported a redelivery.
final class PipelineLane: Lane {
    let name = "mpctl"
    private let tally: Tally
    private let binDirectory: String
    private let directory: String
    private let items = 300
    private let current = Mutex<Int32?>(nil)

    init(tally: Tally, binDirectory: String) throws {
        self.tally = tally
        self.binDirectory = binDirectory
        directory = NSTemporaryDirectory() + "mp-chaos-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pipeline = """
            name: chaos
            queues:
              numbers: {maxsize: 16}
              squares: {}
            source: {range: {start: 0, stop: \(items)}, to: numbers}
            stages:
              - name: square
                command: [Supervision]
                entry: Flaky
                count: 2
                input: numbers
                output: squares
                restart: {policy: permanent, strategy: oneForOne, intensity: 100000, period: 1}
                environment: {FLAKY_EVERY: 1000000000}
            sink: {from: squares, file: squares.txt}
            """
        try pipeline.write(toFile: directory + "/pipeline.yaml", atomically: true, encoding: .utf8)
    }

    func victims() async -> [Int32] {
        guard let mpctl = current.withLock({ $0 }) else { return [] }
        return Observe.leaves(under: mpctl)
    }

    func run(until deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline {
            do {
                guard try await bounded(name, "mpctl run", .seconds(120), tally, { [self] in try await onThread { try self.runOnce() } }) != nil else { return }
            } catch {
                tally.problem(name, "mpctl could not run: \(error)")
                return
            }
        }
    }

    /// One pipeline run, checked.
    private func runOnce() throws {
        let output = directory + "/squares.txt"
        try? FileManager.default.removeItem(atPath: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/mpctl")
        process.arguments = ["run", "--json", directory + "/pipeline.yaml"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = binDirectory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        current.withLock { $0 = process.processIdentifier }
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        current.withLock { $0 = nil }

        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        let summary = lines.last { $0.contains("\"summary\"") }.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]
        let redelivered = redeliveries(in: summary)
        guard process.terminationStatus == 0 else {
            tally.problem(name, "mpctl exited \(process.terminationStatus): \(summary.map { "\($0)" } ?? "no summary")")
            tally.update(name) { $0.lost += items }
            return
        }
        let written = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var counts: [Int: Int] = [:]
        for square in written { counts[square, default: 0] += 1 }
        let missing = (0..<items).filter { counts[$0 * $0] == nil }.count
        let extra = written.count - counts.count
        if missing > 0 { tally.problem(name, "\(missing) of \(items) squares missing") }
        if extra > redelivered { tally.problem(name, "\(extra) squares written twice, \(redelivered) redelivered") }
        tally.update(name) {
            $0.tasks += items - missing
            $0.lost += missing
            $0.redelivered += min(extra, redelivered)
            $0.duplicates += max(0, extra - redelivered)
        }
    }

    /// The stages' `redelivered` in mpctl's summary event.
    private func redeliveries(in summary: [String: Any]?) -> Int {
        let snapshot = (summary?["snapshot"] as? [String: Any]) ?? summary?["summary"].flatMap { ($0 as? [String: Any])?["snapshot"] as? [String: Any] }
        let stages = snapshot?["stages"] as? [[String: Any]] ?? []
        return stages.reduce(0) { $0 + (($1["redelivered"] as? Int) ?? 0) }
    }

    func finish() async {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs blocking work (a child's pipe read to its end) on a thread of its own, off Swift's
/// small cooperative pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
