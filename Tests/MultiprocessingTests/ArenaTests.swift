import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// The arena's allocator: handles and their checks, exhaustion, and a process dying inside it.
@Suite(.serialized) struct ArenaTests {
    init() { TestWorker.use() }

    /// A private arena of `size` bytes (its own memfd, closed when it goes away).
    func privateArena(size: Int = 8 << 20) throws -> Arena { try Arena.create(size: size) }

    @Test func anAllocationResolvesUntilItIsFreedThenItsHandleIsStale() throws {
        let arena = try privateArena()
        let tag = ArenaLayout.typeTag(Int.self)
        let allocation = try arena.allocate(byteCount: 100, alignment: 8, tag: tag)
        #expect(Int(bitPattern: allocation.pointer) % 64 == 0)
        allocation.pointer.storeBytes(of: 0x1234, as: Int.self)
        let resolved = try arena.resolve(allocation.handle, expectedByteCount: 100, expectedTag: tag)
        #expect(resolved == allocation.pointer)
        #expect(resolved.load(as: Int.self) == 0x1234)

        try arena.free(allocation.handle)
        let stale = #expect(throws: SharedMemoryError.self) { try arena.resolve(allocation.handle, expectedByteCount: 100) }
        #expect(stale?.code == .staleHandle)
        let doubleFree = #expect(throws: SharedMemoryError.self) { try arena.free(allocation.handle) }
        #expect(doubleFree?.code == .staleHandle)

        // The block is reused, zeroed, under a new generation; the old handle stays stale.
        let again = try arena.allocate(byteCount: 100, alignment: 8, tag: tag)
        #expect(again.pointer == allocation.pointer)
        #expect(again.handle.generation != allocation.handle.generation)
        #expect(again.pointer.load(as: Int.self) == 0)
        let stillStale = #expect(throws: SharedMemoryError.self) { try arena.resolve(allocation.handle, expectedByteCount: 100) }
        #expect(stillStale?.code == .staleHandle)
        #expect(try arena.statistics() == Arena.Statistics(allocatedBlocks: 1, freeBlocks: 0, allocatedBytes: 100, usedAddressSpace: 256))
    }

    @Test func aHandleOfAnotherSizeTypeOrArenaIsRefusedWithWhatAndWhere() throws {
        let arena = try privateArena()
        let allocation = try arena.allocate(byteCount: 8, tag: ArenaLayout.typeTag(Int.self))
        let size = #expect(throws: SharedMemoryError.self) { try arena.resolve(allocation.handle, expectedByteCount: 4) }
        #expect(size?.code == .sizeMismatch)
        #expect(size?.message.contains("offset \(allocation.handle.offset)") == true, "\(String(describing: size))")
        let type = #expect(throws: SharedMemoryError.self) {
            try arena.resolve(allocation.handle, expectedByteCount: 8, expectedTag: ArenaLayout.typeTag(Double.self))
        }
        #expect(type?.code == .typeMismatch)
        let other = try privateArena()
        let foreign = #expect(throws: SharedMemoryError.self) { try other.resolve(allocation.handle, expectedByteCount: 8) }
        #expect(foreign?.code == .foreignHandle)
        var garbage = allocation.handle
        garbage.offset = 12_345
        let nowhere = #expect(throws: SharedMemoryError.self) { try arena.resolve(garbage, expectedByteCount: 8) }
        #expect(nowhere?.code == .invalidArgument)
        garbage.offset = UInt64.max
        #expect(throws: SharedMemoryError.self) { try arena.resolve(garbage, expectedByteCount: 8) }
    }

    @Test func sizesBeyondTheArenaAndBadArgumentsAreRefused() throws {
        let arena = try privateArena(size: 1 << 20)
        let huge = #expect(throws: SharedMemoryError.self) { try arena.allocate(byteCount: 1 << 40) }
        #expect(huge?.code == .tooLarge)
        #expect(huge?.message.contains("\(1 << 40) bytes") == true)
        let negative = #expect(throws: SharedMemoryError.self) { try arena.allocate(byteCount: -1) }
        #expect(negative?.code == .invalidArgument)
        let alignment = #expect(throws: SharedMemoryError.self) { try arena.allocate(byteCount: 8, alignment: 128) }
        #expect(alignment?.code == .invalidArgument)
        #expect(throws: SharedMemoryError.self) { try arena.allocate(byteCount: 8, alignment: 3) }
        // 1 MiB minus the header and segment pages: one 512 KiB block fits, a second does not.
        let first = try arena.allocate(byteCount: 400_000)
        let full = #expect(throws: SharedMemoryError.self) { try arena.allocate(byteCount: 400_000) }
        #expect(full?.code == .arenaExhausted)
        try arena.free(first.handle)
        _ = try arena.allocate(byteCount: 400_000)   // the freed block serves again
        #expect(try arena.statistics().allocatedBlocks == 1)
    }

    @Test func manyAllocationsAndFreesKeepTheBookkeepingConsistent() throws {
        let arena = try privateArena()
        var live: [ArenaHandle] = []
        for round in 0..<2_000 {
            let size = (round * 7919) % 5_000
            live.append(try arena.allocate(byteCount: size).handle)
            if round % 3 == 0 { try arena.free(live.remove(at: (round / 3) % live.count)) }
        }
        let statistics = try arena.statistics()
        #expect(statistics.allocatedBlocks == live.count)
        for handle in live { _ = try arena.resolve(handle, expectedByteCount: Int(handle.byteCount)) }
    }

    /// A child takes the allocator's lock, commits an allocation to the journal, applies part of
    /// it and dies. The next process to lock replays the journal: the bookkeeping adds up and
    /// the allocator keeps working.
    @Test(arguments: [0, 2, 4])
    func aProcessDyingInsideTheAllocatorLeavesItConsistent(appliedWrites: Int) async throws {
        let before = try ArenaTestHooks.allocatorCounts()
        let child = try await ChildProcess.start(SharedMemoryEntries.dieInsideAllocation, appliedWrites)
        #expect(try await child.join() == .exited(ArenaLayout.crashExitCode))
        let after = try ArenaTestHooks.allocatorCounts()   // throws `corrupted` if it does not add up
        #expect(after.allocated >= before.allocated + 1, "the journal's allocation was completed")
        let value = try SharedValue<Int>(7)
        #expect(try value.load() == 7)
        try value.free()
    }

    @Test func everyChildMapsTheSameArena() async throws {
        let array = try SharedArray<Double>(repeating: 1, count: 1_000, lock: .none)
        defer { try? array.free() }
        let sum = try await ChildProcess.run(SharedMemoryEntries.fillArray, array)
        #expect(sum == (0..<1_000).reduce(0.0) { $0 + Double($1) * 0.5 })
        #expect(try array[999] == 499.5)
        #expect(try Runtime.defaultArena().isRoot)
    }
}
