import Synchronization
import Testing
@testable import Multiprocessing

/// The one poller thread of the runtime: every outcome of a watch, each delivered once.
@Suite struct DescriptorWatcherTests {
    /// Pipes that close both ends when the test ends.
    final class Pipes {
        var pairs: [(readEnd: FileDescriptor, writeEnd: FileDescriptor)] = []
        func make() throws -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
            let pair = try FileDescriptor.pipe(nonBlocking: true)
            pairs.append(pair)
            return pair
        }
        deinit {
            for pair in pairs {
                _ = pair.readEnd._close()
                _ = pair.writeEnd._close()
            }
        }
    }

    /// Outcomes per key, with how many times each handler ran.
    final class Record: Sendable {
        let calls = Mutex<[Int: [DescriptorWatcher.Outcome]]>([:])
        func add(_ key: Int, _ outcome: DescriptorWatcher.Outcome) { calls.withLock { $0[key, default: []].append(outcome) } }
        func waitFor(_ count: Int) async {
            while calls.withLock({ $0.count }) < count { await Task.yield() }
        }
    }

    @Test func manyDescriptorsEachReadyOnceWhenWritten() async throws {
        let watcher = try DescriptorWatcher(name: "test-watcher")
        defer { watcher.stop() }
        let pipes = Pipes()
        let record = Record()
        var pairs: [(readEnd: FileDescriptor, writeEnd: FileDescriptor)] = []
        for key in 0..<200 {
            let pair = try pipes.make()
            pairs.append(pair)
            watcher.watch(pair.readEnd, for: .readable) { record.add(key, $0) }
        }
        // Only the odd ones become readable.
        for (key, pair) in pairs.enumerated() where key % 2 == 1 { try pair.writeEnd.writeAll([1]) }
        await record.waitFor(100)
        let calls = record.calls.withLock { $0 }
        #expect(calls.count == 100)
        #expect(calls.allSatisfy { $0.key % 2 == 1 && $0.value == [.ready] })
        #expect(watcher.pendingCount == 100)
    }

    @Test func aWatchAddedWhileTheThreadIsBlockedIsSeen() async throws {
        let watcher = try DescriptorWatcher(name: "test-watcher")
        defer { watcher.stop() }
        let pipes = Pipes()
        let idle = try pipes.make()
        watcher.watch(idle.readEnd, for: .readable) { _ in }   // the thread now blocks in poll on it
        let pair = try pipes.make()
        try pair.writeEnd.writeAll([1])
        // Already readable when added: only the wake pipe can make the blocked poll look at it.
        let outcome = await watcher.wait(for: pair.readEnd, .readable, until: nil)
        #expect(outcome == .ready)
    }

    @Test func writableAndTimeout() async throws {
        let watcher = try DescriptorWatcher(name: "test-watcher")
        defer { watcher.stop() }
        let pipes = Pipes()
        let pair = try pipes.make()
        #expect(await watcher.wait(for: pair.writeEnd, .writable, until: nil) == .ready)
        #expect(await watcher.wait(for: pair.readEnd, .readable, until: .now + .milliseconds(20)) == .timedOut)
        #expect(watcher.pendingCount == 0)
    }

    @Test func cancelAndInterruptEndAWatchOnceAndForgetIt() async throws {
        let watcher = try DescriptorWatcher(name: "test-watcher")
        defer { watcher.stop() }
        let pipes = Pipes()
        let pair = try pipes.make()
        let record = Record()
        let token = watcher.watch(pair.readEnd, for: .readable) { record.add(0, $0) }
        watcher.watch(pair.readEnd, for: .readable) { record.add(1, $0) }
        #expect(watcher.cancel(token))
        #expect(!watcher.cancel(token))   // already ended: its handler does not run again
        watcher.interrupt([pair.readEnd])
        try pair.writeEnd.writeAll([1])  // too late for both
        await record.waitFor(2)
        #expect(record.calls.withLock { $0 } == [0: [.cancelled], 1: [.interrupted]])
        #expect(watcher.pendingCount == 0)
    }

    @Test func aCancelledTaskEndsItsWaitAndItsWatch() async throws {
        let watcher = try DescriptorWatcher(name: "test-watcher")
        defer { watcher.stop() }
        let pipes = Pipes()
        let pair = try pipes.make()
        let task = Task { await watcher.wait(for: pair.readEnd, .readable, until: nil) }
        while watcher.pendingCount == 0 { await Task.yield() }
        task.cancel()
        #expect(await task.value == .cancelled)
        #expect(watcher.pendingCount == 0)
    }

    @Test func aDescriptorClosedWhileWatchedEndsNotOpenNotAHang() async throws {
        let watcher = try DescriptorWatcher(name: "test-watcher")
        defer { watcher.stop() }
        let pipes = Pipes()
        let closed = try FileDescriptor.pipe(nonBlocking: true)
        defer { _ = closed.writeEnd._close() }
        let other = try pipes.make()   // made first: it must not reuse the closed number
        let record = Record()
        watcher.watch(closed.readEnd, for: .readable) { record.add(0, $0) }
        _ = closed.readEnd._close()
        // The next look at the set (any change pokes the thread) finds it not open.
        watcher.watch(other.readEnd, for: .readable) { _ in }
        await record.waitFor(1)
        #expect(record.calls.withLock { $0 } == [0: [.notOpen]])
    }
}
