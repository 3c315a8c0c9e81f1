import Foundation
import MPTestEntries
import Synchronization
import Testing
@testable import Multiprocessing

/// `ProcessPool`: Python's `Pool` and `ProcessPoolExecutor`, with real worker processes that
/// the tests kill. Every test ends its pool and checks that no worker outlives it.
@Suite(.serialized) struct ProcessPoolTests {
    init() { TestWorker.use() }

    /// The pool's worker pids, then the pool terminated: none of them may still exist.
    private func endAndCheck<I, O>(_ pool: ProcessPool<I, O>, sourceLocation: SourceLocation = #_sourceLocation) async {
        let pids = await pool.workers.map(\.pid)
        await pool.terminate()
        for pid in pids {
            #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)"), "worker \(pid) outlived its pool", sourceLocation: sourceLocation)
        }
    }

    // MARK: map, starmap, imap, submit

    @Test func mapReturnsEveryResultInInputOrder() async throws {
        let pool = try await ProcessPool(PoolEntries.square, workers: 2)
        let inputs = Array(0..<1000)
        #expect(try await pool.map(inputs) == inputs.map { $0 * $0 })
        #expect(try await pool.map(inputs, chunkSize: 7) == inputs.map { $0 * $0 })
        #expect(try await pool.map(inputs, chunkSize: 1000) == inputs.map { $0 * $0 })
        #expect(try await pool.map([Int]()) == [])
        let progress = pool.progress
        #expect(progress.total == 3000 && progress.completed == 3000 && progress.failed == 0 && progress.running == 0)
        await endAndCheck(pool)
    }

    @Test func aChunkSizeBelowOneIsRefused() async throws {
        let pool = try await ProcessPool(PoolEntries.square, workers: 1)
        await #expect { try await pool.map([1, 2], chunkSize: 0) } throws: { ($0 as? PoolError)?.code == .invalidArgument }
        await endAndCheck(pool)
    }

    @Test func starmapSpreadsTuplesOverTheArguments() async throws {
        let pool = try await ProcessPool(PoolEntries.add, workers: 2)
        #expect(try await pool.starmap([(1, 2), (3, 4), (10, -10)]) == [3, 7, 0])
        #expect(try await pool.apply(ProcessArguments(20, 22)) == 42)
        await endAndCheck(pool)
    }

    @Test func imapYieldsInInputOrderAndImapUnorderedYieldsEveryResult() async throws {
        let pool = try await ProcessPool(PoolEntries.sleepMillis, workers: 3)
        // Later inputs finish first: the order must come from the pool, not from the clock.
        let inputs = (0..<24).map { 24 - $0 }
        var ordered: [Int] = []
        for try await result in pool.imap(inputs) { ordered.append(result) }
        #expect(ordered == inputs)
        var unordered: [Int] = []
        for try await result in pool.imapUnordered(inputs, chunkSize: 2) { unordered.append(result) }
        #expect(unordered.sorted() == inputs.sorted())
        await endAndCheck(pool)
    }

    @Test func imapReadsAnEndlessInputOnlyAsFarAsItIsConsumed() async throws {
        let pool = try await ProcessPool(PoolEntries.square, workers: 2)
        let pulled = CountingSequence.Counter()
        var seen = 0
        for try await result in pool.imap(CountingSequence(counter: pulled), chunkSize: 4) {
            #expect(result == seen * seen)
            seen += 1
            if seen == 5_000 { break }
        }
        // Bounded look-ahead: four chunks per worker beyond what was consumed, never the input.
        #expect(pulled.value <= 5_000 + 4 * 2 * 4 + 4)
        await endAndCheck(pool)
    }

    @Test func imapTakesAnAsyncSequence() async throws {
        let pool = try await ProcessPool(PoolEntries.square, workers: 2)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        Task {
            for value in 0..<50 {
                continuation.yield(value)
                try? await Task.sleep(for: .milliseconds(1))
            }
            continuation.finish()
        }
        var results: [Int] = []
        for try await result in pool.imap(stream) { results.append(result) }
        #expect(results == (0..<50).map { $0 * $0 })
        await endAndCheck(pool)
    }

    @Test func submitReturnsAHandleAnyNumberOfTasksMayAwait() async throws {
        let pool = try await ProcessPool(PoolEntries.square, workers: 2)
        let tasks = try (1...20).map { try pool.submit($0) }
        for (offset, task) in tasks.enumerated() { #expect(try await task.value == (offset + 1) * (offset + 1)) }
        #expect(try await tasks[3].value == 16)   // a second await gives the same answer
        #expect(try await pool.apply(12) == 144)
        await endAndCheck(pool)
    }

    // MARK: errors

    @Test func anErrorTheFunctionThrowsNamesItsTypeTheInputAndTheWorker() async throws {
        let pool = try await ProcessPool(PoolEntries.failOn, workers: 2)
        do {
            _ = try await pool.map(Array(0..<20), chunkSize: 4)
            Issue.record("the map should have thrown")
        } catch let error as PoolMapError {
            #expect(error.failures.map(\.index) == [3, 10, 17])
            #expect(error.total == 20)
            for failure in error.failures {
                #expect(failure.code == .functionFailed)
                #expect(failure.remote?.typeName.hasSuffix("PoolTestError") == true)
                #expect(failure.worker?.hasPrefix("PoolWorker-") == true)
                #expect(failure.workerPID != nil)
            }
            #expect(error.description.contains("input 10"))
        }
        await #expect { try await pool.apply(3) } throws: { ($0 as? PoolError)?.code == .functionFailed }
        #expect(try await pool.apply(4) == 4)   // the worker lives on
        await endAndCheck(pool)
    }

    @Test func aFunctionThatIsNotRegisteredIsRefusedBeforeAnythingStarts() async throws {
        let stranger = ProcessFunction("pool-never-registered") { (x: Int) in x }
        await #expect { try await ProcessPool(stranger, workers: 1) } throws: { ($0 as? ProcessError)?.code == .unknownEntry }
    }

    // MARK: initializer and recycling

    @Test func theInitializerRunsInEveryWorkerBeforeItsFirstTask() async throws {
        let options = PoolOptions(initializer: try PoolInitializer(PoolEntries.setUpWorker, 41))
        let pool = try await ProcessPool(PoolEntries.initValue, workers: 2, options: options)
        let answers = try await pool.map(Array(0..<40), chunkSize: 1)
        #expect(answers.allSatisfy { $0[0] == 41 })
        let workerPIDs = Set(await pool.workers.map { Int($0.pid) })
        #expect(Set(answers.map { $0[1] }).isSubset(of: workerPIDs))
        await endAndCheck(pool)
    }

    @Test func anInitializerThatThrowsFailsThePoolsStart() async throws {
        let options = PoolOptions(initializer: try PoolInitializer(PoolEntries.setUpWorker, -1))
        await #expect { try await ProcessPool(PoolEntries.square, workers: 2, options: options) } throws: {
            ($0 as? PoolError)?.code == .initializerFailed && ($0 as? PoolError)?.remote != nil
        }
    }

    @Test func maxTasksPerChildReplacesWorkersAfterThatManyInputs() async throws {
        let pool = try await ProcessPool(PoolEntries.whoAmI, workers: 2, options: PoolOptions(maxTasksPerChild: 5))
        let pids = try await pool.map(Array(0..<40), chunkSize: 1)
        let runs = Dictionary(grouping: pids, by: { $0 }).mapValues(\.count)
        #expect(runs.values.allSatisfy { $0 <= 5 })
        #expect(runs.count >= 8)
        #expect(try await pool.apply(0) > 0)
        await endAndCheck(pool)
    }

    // MARK: timeouts and cancellation

    @Test func aTaskPastItsTimeoutFailsAloneAndItsWorkerIsReplaced() async throws {
        let pool = try await ProcessPool(PoolEntries.sleepMillis, workers: 2, options: PoolOptions(taskTimeout: .milliseconds(300)))
        do {
            _ = try await pool.map([5, 60_000, 5, 5])
            Issue.record("the map should have thrown")
        } catch let error as PoolMapError {
            #expect(error.failures.map(\.index) == [1])
            #expect(error.failures.first?.code == .timedOut)
            #expect(error.failures.first?.description.contains("input 1") == true)
        }
        #expect(try await pool.apply(7) == 7)
        try await waitUntil { await pool.workers.count == 2 }
        await endAndCheck(pool)
    }

    @Test func cancellingAMapStopsTheInputsNotYetStarted() async throws {
        let pool = try await ProcessPool(PoolEntries.sleepMillis, workers: 1)
        let map = Task { try await pool.map(Array(repeating: 200, count: 50), chunkSize: 1) }
        try await Task.sleep(for: .milliseconds(300))
        map.cancel()
        await #expect(throws: CancellationError.self) { try await map.value }
        try await waitUntil { pool.progress.running == 0 }
        let progress = pool.progress
        // At most the input running at the cancel (and the one after it) ran; 48 never started.
        #expect(progress.completed <= 3)
        #expect(progress.completed + progress.failed == 50)
        #expect(try await pool.apply(1) == 1)
        await endAndCheck(pool)
    }

    @Test func aRunningTaskIsToldThroughACancelFrame() async throws {
        let pool = try await ProcessPool(PoolEntries.cooperative, workers: 1)
        let before = await pool.workers.map(\.pid)
        let task = try pool.submit(600_000)   // ten minutes unless it hears the cancel
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        try await waitUntil { pool.progress.running == 0 }
        #expect(await pool.workers.map(\.pid) == before)   // the same worker, not replaced
        #expect(try await pool.apply(1) == false)
        await endAndCheck(pool)
    }

    @Test func replaceWorkerOnCancelKillsTheRunningTasksWorker() async throws {
        let pool = try await ProcessPool(PoolEntries.sleepMillis, workers: 1, options: PoolOptions(replaceWorkerOnCancel: true))
        let before = await pool.workers.map(\.pid)
        let task = try pool.submit(600_000)
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        try await waitUntil { await pool.workers.map(\.pid) != before && pool.progress.running == 0 }
        #expect(try await pool.apply(3) == 3)
        for pid in before { #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)")) }
        await endAndCheck(pool)
    }

    // MARK: crash safety

    @Test func aKilledWorkerFailsOnlyItsTaskNamingTheSignalAndIsReplaced() async throws {
        let pool = try await ProcessPool(PoolEntries.crashOn, workers: 2)
        do {
            _ = try await pool.apply(-1)
            Issue.record("the task should have failed")
        } catch let error as PoolError {
            #expect(error.code == .workerDied)
            #expect(error.status == .signaled(.kill))
            #expect(error.worker?.hasPrefix("PoolWorker-") == true)
            #expect(error.description.contains("SIGKILL"))
        }
        #expect(try await pool.apply(3) == 3)
        try await waitUntil { await pool.workers.count == 2 }
        await endAndCheck(pool)
    }

    @Test func aTrapInTheFunctionIsAWorkerDeathNotAHang() async throws {
        let pool = try await ProcessPool(PoolEntries.crashOn, workers: 1)
        await #expect { try await pool.apply(-2) } throws: {
            guard let error = $0 as? PoolError, error.code == .workerDied, let status = error.status else { return false }
            return !status.isSuccess
        }
        #expect(try await pool.apply(5) == 5)
        await endAndCheck(pool)
    }

    @Test func aPoisonousInputInAChunkIsNamedExactly() async throws {
        let pool = try await ProcessPool(PoolEntries.crashOn, workers: 2)
        var inputs = Array(0..<50)
        inputs[23] = -1
        do {
            _ = try await pool.map(inputs, chunkSize: 10)
            Issue.record("the map should have thrown")
        } catch let error as PoolMapError {
            #expect(error.failures.map(\.index) == [23])
            #expect(error.failures.first?.code == .workerDied)
            #expect(error.failures.first?.status == .signaled(.kill))
        }
        await endAndCheck(pool)
    }

    @Test func retriesRunAnInputWhoseWorkerDiedAgainElsewhere() async throws {
        let pool = try await ProcessPool(PoolEntries.crashOn, workers: 2, options: PoolOptions(retries: 2))
        do {
            _ = try await pool.map([1, -1, 3], chunkSize: 1)
            Issue.record("the map should have thrown")
        } catch let error as PoolMapError {
            #expect(error.failures.map(\.index) == [1])
            #expect(error.failures.first?.attempts == 3)
        }
        #expect(pool.progress.rerun == 2)
        await endAndCheck(pool)
    }

    @Test func aWorkerKilledWhileIdleIsReplaced() async throws {
        let pool = try await ProcessPool(PoolEntries.square, workers: 2)
        let victim = try #require(await pool.workers.first)
        victim.kill()
        try await waitUntil {
            let pids = await pool.workers.map(\.pid)
            return pids.count == 2 && !pids.contains(victim.pid)
        }
        #expect(try await pool.map(Array(0..<100)) == (0..<100).map { $0 * $0 })
        await endAndCheck(pool)
    }

    /// SIGKILLs random workers during a map of 100,000 inputs: the map completes; exactly the
    /// inputs whose worker died fail (each naming SIGKILL); every other result is right; an
    /// input that ran to success twice was reported as rerun; with retries, all succeed.
    @Test(arguments: [0, 5]) func aMapSurvivesWorkersKilledAtRandom(retries: Int) async throws {
        let count = 100_000
        let counters = try SharedArray<Int>(repeating: 0, count: count)
        let options = PoolOptions(initializer: try PoolInitializer(PoolEntries.attachCounters, counters), retries: retries)
        let pool = try await ProcessPool(PoolEntries.countRun, workers: 2, options: options)
        let killer = Task {
            var kills = 0
            while !Task.isCancelled, kills < 12 {
                try? await Task.sleep(for: .milliseconds(15))
                if let victim = await pool.workers.randomElement() {
                    victim.kill()
                    kills += 1
                }
            }
            return kills
        }
        let inputs = Array(0..<count)
        var failures: [PoolError] = []
        var results: [Int]?
        do {
            results = try await pool.map(inputs, chunkSize: 25)
        } catch let error as PoolMapError {
            failures = error.failures
        }
        killer.cancel()
        let kills = await killer.value
        #expect(kills > 0, "the map ended before any worker was killed: the test proved nothing")
        let runs = try counters.withLock { Array($0) }
        if let results { #expect(results == Array(0..<count)) }
        if retries > 0 { #expect(failures.isEmpty) }
        #expect(failures.count <= kills)
        for failure in failures {
            #expect(failure.code == .workerDied)
            #expect(failure.status == .signaled(.kill))
        }
        let failed = Set(failures.compactMap(\.index))
        // Every input that did not fail ran (at least once); a second successful run was reported.
        #expect((0..<count).allSatisfy { failed.contains($0) || runs[$0] >= 1 })
        let extraRuns = runs.reduce(0) { $0 + max(0, $1 - 1) }
        #expect(extraRuns <= pool.progress.rerun)
        await endAndCheck(pool)
    }

    // MARK: a pool of a worker type

    @Test func aPoolOfAWorkerTypeSendsEachInputAsARequestToAMailbox() async throws {
        let pool = try await ProcessPool<Int, Int>(worker: PoolDoubler.self, workers: 2)
        let inputs = (0..<100).filter { $0 != 13 }   // 13 fails, by design
        #expect(try await pool.map(inputs) == inputs.map { $0 * 2 })
        #expect(try await pool.apply(21) == 42)
        var seen: [Int] = []
        for try await doubled in pool.imapUnordered(0..<10) { seen.append(doubled) }
        #expect(seen.sorted() == (0..<10).map { $0 * 2 })
        do {
            _ = try await pool.map([1, 13, -1, 4])
            Issue.record("the map should have thrown")
        } catch let error as PoolMapError {
            #expect(error.failures.map(\.index) == [1, 2])
            #expect(error.failures.map(\.code) == [.functionFailed, .workerDied])
            #expect(error.failures[0].remote?.typeName.hasSuffix("PoolTestError") == true)
            #expect(error.failures[1].status == .signaled(.kill))
        }
        #expect(try await pool.apply(5) == 10)
        await endAndCheck(pool)
    }

    @Test func aWorkerTypeThatIsNotRegisteredOrGetsAnInitializerIsRefused() async throws {
        struct Unregistered: Worker {
            func run(_ context: WorkerContext) async throws {}
        }
        await #expect { try await ProcessPool<Int, Int>(worker: Unregistered.self, workers: 1) } throws: {
            ($0 as? ProcessError)?.code == .unknownEntry
        }
        let options = PoolOptions(initializer: try PoolInitializer(PoolEntries.setUpWorker, 1))
        await #expect { try await ProcessPool<Int, Int>(worker: PoolDoubler.self, workers: 1, options: options) } throws: {
            ($0 as? PoolError)?.code == .invalidArgument
        }
    }

    // MARK: lifecycle

    @Test func closeLetsQueuedWorkFinishThenJoinSeesEveryWorkerExit() async throws {
        let pool = try await ProcessPool(PoolEntries.sleepMillis, workers: 2)
        let pids = await pool.workers.map(\.pid)
        let map = Task { try await pool.map(Array(repeating: 20, count: 10), chunkSize: 1) }
        try await Task.sleep(for: .milliseconds(30))
        pool.close()
        #expect(try await map.value == Array(repeating: 20, count: 10))
        await pool.join()
        for pid in pids { #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)")) }
        await #expect { try await pool.apply(1) } throws: { ($0 as? PoolError)?.code == .closed }
    }

    @Test func terminateFailsWhatIsQueuedAndRunning() async throws {
        let pool = try await ProcessPool(PoolEntries.sleepMillis, workers: 2)
        let map = Task { try await pool.map(Array(repeating: 10_000, count: 6), chunkSize: 1) }
        try await Task.sleep(for: .milliseconds(200))
        await pool.terminate()
        do {
            _ = try await map.value
            Issue.record("the map should have thrown")
        } catch let error as PoolMapError {
            #expect(error.failures.count == 6)
            #expect(error.failures.allSatisfy { $0.code == .terminated })
        }
        #expect(await pool.workers.isEmpty)
    }

    @Test func withProcessPoolEndsItsPoolWhenTheBodyThrows() async throws {
        struct Stop: Error {}
        let pids = PIDBox()
        await #expect(throws: Stop.self) {
            try await withProcessPool(PoolEntries.square, workers: 2) { pool in
                pids.set(await pool.workers.map(\.pid))
                #expect(try await pool.apply(9) == 81)
                throw Stop()
            }
        }
        #expect(pids.value.count == 2)
        for pid in pids.value { #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)")) }
    }

    @Test func aPoolNobodyHoldsStopsItsWorkers() async throws {
        var pool: ProcessPool<Int, Int>? = try await ProcessPool(PoolEntries.square, workers: 2)
        let pids = await pool!.workers.map(\.pid)
        #expect(try await pool!.map([1, 2, 3]) == [1, 4, 9])
        pool = nil
        try await waitUntil { pids.allSatisfy { !FileManager.default.fileExists(atPath: "/proc/\($0)") } }
    }
}

/// Polls `condition` every 10 ms for up to 30 s (a liveness bound, not a speed assertion).
func waitUntil(_ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    for _ in 0..<3000 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("the condition never held", sourceLocation: sourceLocation)
}

/// 0, 1, 2, ... for ever, counting how many elements were read.
struct CountingSequence: Sequence, Sendable {
    final class Counter: Sendable {
        let pulled = Atomic<Int>(0)
        var value: Int { pulled.load(ordering: .relaxed) }
    }
    let counter: Counter

    struct Iterator: IteratorProtocol {
        let counter: Counter
        var value = 0
        mutating func next() -> Int? {
            counter.pulled.add(1, ordering: .relaxed)
            defer { value += 1 }
            return value
        }
    }

    func makeIterator() -> Iterator { Iterator(counter: counter) }
}

/// Worker pids carried out of a closure.
final class PIDBox: Sendable {
    private let pids = Mutex<[Int32]>([])
    func set(_ value: [Int32]) { pids.withLock { $0 = value } }
    var value: [Int32] { pids.withLock { $0 } }
}
