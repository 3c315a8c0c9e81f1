import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Every arena-backed primitive and shared value is freed with its last handle, in every
/// process; an explicit `free()` first is safe against the handles' later releases.
@Suite(.serialized) struct SharedLifetimeTests {
    init() { TestWorker.use() }

    /// What the arena holds now (its bookkeeping checked on the way).
    static func held() throws -> (blocks: Int, bytes: Int) {
        let statistics = try Runtime.defaultArena().statistics()
        return (statistics.allocatedBlocks, statistics.allocatedBytes)
    }

    /// Makes one arena-backed thing of kind `index % 10` and drops it.
    static func makeAndDrop(_ index: Int) throws {
        switch index % 10 {
        case 0: _ = try Lock()
        case 1: _ = try RLock()
        case 2: _ = try Multiprocessing.Semaphore(1)
        case 3: _ = try BoundedSemaphore(2)
        case 4: _ = try Condition()
        case 5: _ = try Event()
        case 6: _ = try Barrier(parties: 2)
        case 7: _ = try SharedValue<Int>(index)
        case 8: _ = try SharedArray<Int>(repeating: index, count: 16, lock: .plain)
        default: _ = try SharedAtomic<Int>(index)
        }
    }

    @Test func a100000DroppedPrimitivesAndValuesGiveTheirMemoryBack() throws {
        let before = try Self.held()
        for index in 0..<100_000 { try Self.makeAndDrop(index) }
        #expect(try Self.held() == before)
    }

    @Test func aHandleCopyKeepsTheBlockUntilTheLastOneGoes() throws {
        let before = try Self.held()
        var copy: SharedValue<Int>?
        do {
            let value = try SharedValue<Int>(5, lock: .none)
            copy = value   // a copy of the struct shares this process's one count
            // An encoding counts until decoded; the decoded handle adopts that count.
            let decoded = try JSONDecoder().decode(SharedValue<Int>.self, from: try JSONEncoder().encode(value))
            #expect(try Runtime.defaultArena().handleCount(value.block.handle) == 2)
            #expect(try decoded.load() == 5)
        }
        #expect(try copy?.load() == 5)
        #expect(try Runtime.defaultArena().handleCount(copy!.block.handle) == 1)
        copy = nil
        #expect(try Self.held() == before)
    }

    @Test func anExplicitFreeIsSafeAgainstTheLaterRelease() throws {
        let before = try Self.held()
        do {
            var value: SharedValue<Int>? = try SharedValue<Int>(1, lock: .none)
            let freed = try #require(value).block.handle
            try value?.free()
            // The freed block is reused at once (same size class): the stale handle's release
            // must leave the new owner alone.
            let successor = try SharedValue<Int>(2, lock: .none)
            #expect(successor.block.handle.offset == freed.offset)
            value = nil
            #expect(try successor.load() == 2)
            #expect(try Runtime.defaultArena().handleCount(successor.block.handle) == 1)
        }
        #expect(try Self.held() == before)
    }

    @Test func aValuePassedToAChildOutlivesTheParentsHandleAndGoesWithTheChilds() async throws {
        let before = try Self.held()
        let attached = try Event(), parentDropped = try Event()
        var child: ChildProcess?
        var handle: ArenaHandle?
        do {
            let value = try SharedValue<Int>(41)
            handle = value.block.handle
            child = try await ChildProcess.start(SharedMemoryEntries.outliveParent,
                                                 .init(value: value, attached: attached, parentDropped: parentDropped))
            #expect(try await attached.wait(timeout: .seconds(60)))
        }
        // This process holds no handle of the value now; the child's keeps it alive.
        #expect(try Runtime.defaultArena().handleCount(#require(handle)) == 1)
        parentDropped.set()
        let started = try #require(child)
        #expect(try await started.result(of: SharedMemoryEntries.outliveParent) == 42)
        #expect(try await started.join() == .exited(0))
        child = nil
        // Gone with the child's handle: only the two events (still held here) remain.
        #expect(try Runtime.defaultArena().handleCount(#require(handle)) == nil)
        let now = try Self.held()
        #expect(now.blocks == before.blocks + 2)
        withExtendedLifetime((attached, parentDropped)) {}
    }
}

/// `SharedValue`/`SharedArray`'s lock choice (Python's `lock=`) and `SharedArray`'s slices.
@Suite(.serialized) struct SharedValueLockTests {
    init() { TestWorker.use() }

    @Test func theDefaultLockIsReentrantSoWithLockNests() throws {
        let value = try SharedValue<Int>(1)
        #expect(value.lock is RLock)
        let result = try value.withLock { outer -> Int in
            outer += 1
            return try value.withLock { inner in
                inner += 1
                return try value.load()   // load takes the lock a third time
            }
        }
        #expect(result == 3)
        let array = try SharedArray<Int>(repeating: 0, count: 4)
        #expect(array.lock is RLock)
        try array.withLock { elements in elements[0] = try array.load(at: 1) + 7 }
        #expect(try array[0] == 7)
    }

    @Test func eachLockChoice() throws {
        #expect(try SharedValue<Int>(0, lock: .plain).lock is Lock)
        #expect(try SharedValue<Int>(0, lock: .none).lock == nil)
        let shared = try Lock()
        let value = try SharedValue<Int>(0, lock: .using(shared))
        #expect(value.lock === shared)
        let plain = try SharedValue<Int>(0, lock: .plain)
        try plain.withLock { _ in
            let nested = #expect(throws: SynchronizationError.self) { try plain.load() }
            #expect(nested?.code == .wouldDeadlock)
        }
        let noLock = #expect(throws: SharedMemoryError.self) { try SharedValue<Int>(0, lock: .none).withLock { _ in } }
        #expect(noLock?.code == .noLock)
        // The lock's kind travels with the handle.
        let decoded = try JSONDecoder().decode(SharedValue<Int>.self, from: try JSONEncoder().encode(try SharedValue<Int>(3)))
        #expect(decoded.lock is RLock)
    }

    @Test(arguments: [ValueLock.reentrant, .plain, .none])
    func slicesReadAndAssignUnderTheLock(lock: ValueLock) throws {
        let array = try SharedArray<Int>(Array(0..<10), lock: lock)
        #expect(try array[2..<5] == [2, 3, 4])
        #expect(try array.load(0..<0) == [])
        #expect(try array.load(0..<10) == Array(0..<10))
        try array.store(contentsOf: [20, 30, 40], at: 2)
        try array.store(contentsOf: [], at: 10)
        #expect(try array.toArray() == [0, 1, 20, 30, 40, 5, 6, 7, 8, 9])
    }

    @Test func aSliceOutsideTheArrayIsATypedErrorNamingTheRangeAndTheCount() throws {
        let array = try SharedArray<Int>(repeating: 1, count: 10)
        for range in [8..<11, -1..<2, 10..<12] {
            let error = #expect(throws: SharedMemoryError.self) { try array.load(range) }
            #expect(error?.code == .indexOutOfRange)
            #expect(error?.message.contains("\(range.lowerBound)..<\(range.upperBound)") == true)
            #expect(error?.message.contains("10 elements") == true)
        }
        let tooLong = #expect(throws: SharedMemoryError.self) { try array.store(contentsOf: [1, 2, 3], at: 8) }
        #expect(tooLong?.code == .indexOutOfRange)
        #expect(tooLong?.message.contains("8..<11") == true)
        #expect(try array.toArray() == Array(repeating: 1, count: 10))   // nothing written
    }
}

/// `SharedMemory(track: false)`: the tracker leaves the segment alone; the program owns it.
@Suite(.serialized) struct SharedMemoryTrackTests {
    init() { TestWorker.use() }

    @Test func anUntrackedSegmentOutlivesTheChildThatMadeItUntilUnlinked() async throws {
        let name = "mp_untracked_\(ProcessInfo.processInfo.processIdentifier)"
        defer { try? SharedMemory.unlink(name: name) }
        #expect(try await ChildProcess.run(SharedMemoryEntries.createUntrackedSegment, name) == 0)
        #expect(try !ArenaTestHooks.trackedSegmentNames().contains(name))
        let segment = try SharedMemory(attaching: name)
        #expect(Array(segment.buffer.prefix(4)) == Array("kept".utf8))
        segment.close()
        try SharedMemory.unlink(name: name)
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/\(name)"))
    }

    @Test func aTrackedSegmentIsRecordedAndAnUntrackedOneIsNot() throws {
        let tracked = try SharedMemory(size: 4096)
        let untracked = try SharedMemory(size: 4096, track: false)
        defer { try? tracked.unlink(); try? untracked.unlink() }
        let names = try ArenaTestHooks.trackedSegmentNames()
        #expect(names.contains(tracked.name))
        #expect(!names.contains(untracked.name))
    }
}
