@testable import Multiprocessing

/// What the package's tests (and their worker executable, which cannot be `@testable`
/// itself) ask of this process's arena: a check of the allocator's bookkeeping, the
/// tracker's table, and a death inside an allocation. Test-only: it reaches the runtime's
/// internals through `@testable`, so nothing in `Sources` exists for it.
public enum ArenaTestHooks {
    /// Blocks allocated and free, after checking every block, free list and the journal.
    /// Throws ``SharedMemoryError/Code/corrupted`` if the bookkeeping does not add up.
    public static func allocatorCounts() throws(SharedMemoryError) -> (allocated: Int, free: Int) {
        let statistics = try ArenaSources.defaultArena().statistics()
        return (statistics.allocatedBlocks, statistics.freeBlocks)
    }

    /// Ends this process inside an allocation of `byteCount` bytes: lock taken, journal
    /// committed, only `appliedWrites` of its writes applied.
    public static func dieInsideAllocation(byteCount: Int, appliedWrites: Int) throws(SharedMemoryError) -> Never {
        try ArenaSources.defaultArena().dieInsideAllocation(byteCount: byteCount, appliedWrites: appliedWrites)
    }

    /// The names of the segments the tracker holds (created, not yet unlinked).
    public static func trackedSegmentNames() throws(SharedMemoryError) -> [String] {
        try ArenaSources.defaultArena().trackedSegmentNames()
    }
}
