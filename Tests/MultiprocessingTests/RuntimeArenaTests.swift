import MPTestEntries
import Testing
@testable import Multiprocessing

/// The arena is a runtime's value, not a process-wide static: two runtimes in one process hold
/// two arenas whose primitives are independent, a primitive can be made in an arena handed to
/// it without any bootstrap, a decoder finds the arena of the runtime its `userInfo` names,
/// and a child of a runtime maps that runtime's arena.
@Suite(.serialized) struct RuntimeArenaTests {
    @Test func twoRuntimesHoldTwoArenasWhoseLocksAreIndependent() async throws {
        let first = Runtime(), second = Runtime()
        let firstArena = try first.arena(), secondArena = try second.arena()
        #expect(firstArena !== secondArena)
        #expect(firstArena.id != secondArena.id)
        #expect(firstArena.isRoot && secondArena.isRoot)
        try Self.expectIndependentLocks(in: firstArena, secondArena)
        let byRuntime = [try Lock(runtime: second).placement, try RLock(runtime: second).placement,
                         try Multiprocessing.Semaphore(runtime: second).placement, try BoundedSemaphore(runtime: second).placement,
                         try Condition(runtime: second).placement, try Event(runtime: second).placement,
                         try Barrier(parties: 2, runtime: second).placement]
        #expect(byRuntime.allSatisfy { $0.handle?.arena == secondArena.id }, "the runtime: forms use that runtime's arena")
        #expect(try SharedAtomic<Int>(0, runtime: second).block.handle.arena == secondArena.id)
        await first.shutdown()
        await second.shutdown()
    }

    /// A lock made in each arena: each is free while the other is held.
    static func expectIndependentLocks(in firstArena: Arena, _ secondArena: Arena) throws {
        let firstLock = try Lock(in: firstArena), secondLock = try Lock(in: secondArena)
        #expect(firstLock.placement.handle?.arena == firstArena.id)
        #expect(secondLock.placement.handle?.arena == secondArena.id)
        try firstLock.withLock {
            #expect(try secondLock.acquire(timeout: .zero), "the second arena's lock is free while the first's is held")
            try secondLock.release()
        }
        try secondLock.withLock {
            #expect(try firstLock.acquire(timeout: .zero), "and the other way round")
            try firstLock.release()
        }
    }

    @Test func aDecoderFindsTheArenaOfTheRuntimeItsUserInfoNames() async throws {
        let first = Runtime(), second = Runtime()
        let value = try SharedValue<Int>(41, runtime: first)   // the public form of `in: first.arena()`
        let bytes = try MessagePackEncoder().encode(value)
        var intoFirst = MessagePackDecoder()
        intoFirst.userInfo[Runtime.userInfoKey] = first
        let decoded = try intoFirst.decode(SharedValue<Int>.self, from: bytes)
        try decoded.withLock { $0 += 1 }
        #expect(try value.load() == 42, "the same memory, found in the first runtime's arena")
        var intoSecond = MessagePackDecoder()
        intoSecond.userInfo[Runtime.userInfoKey] = second
        let error = try #require(throws: SharedMemoryError.self) { try intoSecond.decode(SharedValue<Int>.self, from: bytes) }
        #expect(error.code == .foreignHandle, "a handle of the first arena is not the second's: \(error)")
        await first.shutdown()
        await second.shutdown()
    }

    @Test func everyPrimitiveCanBeMadeInAnArenaHandedToItWithoutBootstrap() throws {
        let arena = try Arena.create(size: 8 << 20)
        let lock = try Lock(in: arena), rlock = try RLock(in: arena)
        let semaphore = try Multiprocessing.Semaphore(2, in: arena), bounded = try BoundedSemaphore(1, in: arena)
        let condition = try Condition(in: arena), overLock = try Condition(lock: lock, in: arena)
        let event = try Event(in: arena), barrier = try Barrier(parties: 1, in: arena)
        let value = try SharedValue<Int>(5, in: arena), array = try SharedArray<Int32>([1, 2, 3], lock: .plain, in: arena)
        let atomic = try SharedAtomic<Int>(0, in: arena)
        for handle in [lock.placement.handle, rlock.placement.handle, semaphore.placement.handle, bounded.placement.handle,
                       condition.placement.handle, overLock.placement.handle, event.placement.handle, barrier.placement.handle,
                       value.block.handle, array.block.handle, atomic.block.handle] {
            #expect(handle?.arena == arena.id)
        }
        #expect((value.lock as? RLock)?.placement.handle?.arena == arena.id, "a value's own lock is in its arena")
        try lock.withLock { try rlock.withLock { try rlock.withLock {} } }
        #expect(try semaphore.acquire(timeout: .zero) && semaphore.acquire(timeout: .zero))
        #expect(try !semaphore.acquire(timeout: .zero))
        event.set()
        #expect(try event.wait(timeout: .zero))
        #expect(try barrier.wait() == 0)
        try value.withLock { $0 *= 3 }
        #expect(try value.load() == 15)
        #expect(try array[0..<3] == [1, 2, 3])
        #expect(try atomic.add(4) == 4)
        #expect(try arena.statistics().allocatedBlocks >= 11)
    }

    @Test func aChildOfASecondRuntimeMapsThatRuntimesArena() async throws {
        TestWorker.use()
        let runtime = Runtime()
        try runtime.register(functions: [SharedMemoryEntries.fillArray], workers: [])
        let array = try SharedArray<Double>(repeating: 1, count: 1_000, lock: .none, runtime: runtime)
        let task = try await runtime.start(SharedMemoryEntries.fillArray, array)
        #expect(try await task.value == (0..<1_000).reduce(0.0) { $0 + Double($1) * 0.5 })
        #expect(try array[999] == 499.5, "the child wrote into the second runtime's arena")
        #expect(try await task.join() == .exited(0))
        await runtime.shutdown()
    }
}

/// The entries are a runtime's value too: a runtime starts only what it registered, and two
/// runtimes register apart.
@Suite(.serialized) struct RuntimeEntryTests {
    @Test func aRuntimeRefusesAnEntryItDidNotRegisterBeforeSpawning() async throws {
        TestWorker.use()
        let empty = Runtime(), registered = Runtime()
        try registered.register(functions: [SharedMemoryEntries.fillArray], workers: [])
        let array = try SharedArray<Double>(repeating: 0, count: 4, lock: .none, in: registered.arena())
        let error = try await #require(throws: ProcessError.self) { try await empty.start(SharedMemoryEntries.fillArray, array) }
        #expect(error.code == .unknownEntry)
        #expect(empty.supervisorIfStarted?.activeChildren.isEmpty ?? true, "nothing was spawned")
        #expect(try await registered.start(SharedMemoryEntries.fillArray, array).value == 3)
        await empty.shutdown()
        await registered.shutdown()
    }

    @Test func theSameNameTwiceInOneRuntimeIsADuplicate() throws {
        let runtime = Runtime()
        try runtime.register(functions: [SharedMemoryEntries.fillArray], workers: [])
        let error = try #require(throws: ProcessError.self) { try runtime.register(functions: [SharedMemoryEntries.fillArray], workers: []) }
        #expect(error.code == .duplicateEntry)
        try Runtime().register(functions: [SharedMemoryEntries.fillArray], workers: [])   // another runtime: its own table
    }
}
