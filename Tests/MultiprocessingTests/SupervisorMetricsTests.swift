import Foundation
import MetricsTestKit
import MPTestEntries
import Testing
@testable import Multiprocessing

/// The supervisor's metrics (issue 14, item 9), through swift-metrics: a runtime made with a
/// metrics factory counts the children that started and how they ended, the frames routed
/// between workers, the restarts of a supervisor tree, the depth of each queue and the pool's
/// tasks by how they ended. Real children; the factory is swift-metrics' test kit.
@Suite(.serialized) struct SupervisorMetricsTests {
    init() { TestWorker.use() }

    /// A runtime reporting to `metrics`, knowing the test entries.
    static func runtime(_ metrics: TestMetrics) throws -> Runtime {
        let runtime = Runtime(metrics: metrics)
        try runtime.register(functions: [TestEntries.ask, TestEntries.exit, PoolEntries.failOn, QueueEntries.getAndHold], workers: [Tally.self])
        return runtime
    }

    @Test("children started and exited are counted by how they ended; worker-to-worker frames are counted as routed")
    func childrenAndRouting() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics)
        let tally = try await runtime.start(Tally.self)
        // `ask` requests the tally through the supervisor: a request and its reply are routed.
        let asker = try await runtime.start(TestEntries.ask, TestEntries.Ask(target: tally.id, value: 5))
        #expect(try await asker.result(of: TestEntries.ask) == 5)
        let failing = try await runtime.start(TestEntries.exit, 3)
        _ = try await failing.join()
        _ = try await asker.join()
        tally.kill()
        _ = try await tally.join()
        try await waitUntil("three exits counted") {
            (try? metrics.expectCounter("mp_children_exited", [("how", "exit0")]).totalValue) == 1
                && (try? metrics.expectCounter("mp_children_exited", [("how", "exit")]).totalValue) == 1
                && (try? metrics.expectCounter("mp_children_exited", [("how", "signal")]).totalValue) == 1
        }
        #expect(try metrics.expectCounter("mp_children_started").totalValue == 3)
        #expect(try metrics.expectCounter("mp_messages_routed").totalValue == 2)
        await runtime.shutdown()
    }

    @Test("a supervisor tree's restarts are counted per child")
    func restarts() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics)
        let tree = Supervisor(strategy: .oneForOne, intensity: 5, children: [.worker("a", Tally.self), .worker("b", Tally.self)])
        try await tree.start(on: runtime.supervisor())
        for _ in 0..<2 {
            let before = await tree.child("a")
            before?.kill()
            try await waitUntil("a restarted") { await tree.child("a").map { $0 !== before } ?? false }
        }
        #expect(try metrics.expectCounter("mp_restarts", [("child", "a")]).totalValue == 2)
        #expect((try? metrics.expectCounter("mp_restarts", [("child", "b")]).totalValue) ?? 0 == 0)
        await tree.shutdown()
        await runtime.shutdown()
    }

    @Test("a queue's depth gauge follows its puts and gets")
    func queueDepth() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics)
        let queue = try Queue<Int>(runtime: runtime)
        for value in 0..<3 { try await queue.put(value) }
        #expect(try await queue.count == 3)
        let id = String(queue.core.handle.id)
        // Recorded on the supervisor's loop once the turn's work is done: eventually, not before the answer.
        try await waitUntil("depth 3") { (try? metrics.expectGauge("mp_queue_depth", [("queue", id)]).lastValue) == 3 }
        _ = try await queue.get()
        #expect(try await queue.count == 2)
        try await waitUntil("depth 2") { (try? metrics.expectGauge("mp_queue_depth", [("queue", id)]).lastValue) == 2 }
        await runtime.shutdown()
    }

    @Test("a joinable queue counts the items it delivers again after their consumer died")
    func queueRedelivered() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics)
        let tasks = try JoinableQueue<Int>(runtime: runtime)
        let got = try SimpleQueue<Int>(runtime: runtime)
        for value in 0..<5 { try await tasks.put(value) }
        // It gets 3, marks 1 done and is killed holding 2: those 2 are queued again, not the third.
        let consumer = try await runtime.start(QueueEntries.getAndHold, .init(joinable: tasks, got: got, count: 3, done: 1))
        for _ in 0..<3 { _ = try await got.get() }
        try await waitUntil("its taskDone arrived") { try await tasks.unfinishedCount == 4 }
        consumer.kill()
        _ = try await consumer.join()
        let id = String(tasks.core.handle.id)
        try await waitUntil("redeliveries counted") {
            (try? metrics.expectCounter("mp_queue_redelivered", [("queue", id)]).totalValue) ?? 0 >= 2
        }
        // What was sent ahead to it and never got is queued again too; the count says so.
        let redelivered = try metrics.expectCounter("mp_queue_redelivered", [("queue", id)]).totalValue
        #expect(redelivered >= 2 && redelivered <= 4)
        #expect(try await tasks.count == 4)
        await runtime.shutdown()
    }

    @Test("a pool's tasks are counted as submitted, completed and failed")
    func poolTasks() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics)
        let pool = try await ProcessPool(PoolEntries.failOn, workers: 2, runtime: runtime)
        // 0..<10 has one input the function fails on (3), so `map` throws; each input is
        // submitted alone so that every other one completes.
        var tasks: [PoolTask<Int>] = []
        for input in 0..<10 { tasks.append(try pool.submit(input)) }
        var failures = 0
        for task in tasks {
            do { _ = try await task.value } catch { failures += 1 }
        }
        #expect(failures == 1)
        #expect(try metrics.expectCounter("mp_pool_tasks", [("state", "submitted")]).totalValue == 10)
        #expect(try metrics.expectCounter("mp_pool_tasks", [("state", "completed")]).totalValue == 9)
        #expect(try metrics.expectCounter("mp_pool_tasks", [("state", "failed")]).totalValue == 1)
        pool.close()
        await pool.join()
        await runtime.shutdown()
    }
}
