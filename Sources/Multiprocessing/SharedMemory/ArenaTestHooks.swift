/// What the package's tests (and their worker executable) may ask of this process's arena,
/// without `@testable`: a check of the allocator's bookkeeping and a death inside it.
package enum ArenaTestHooks {
    /// Blocks allocated and free, after checking every block, free list and the journal.
    /// Throws ``SharedMemoryError/Code/corrupted`` if the bookkeeping does not add up.
    package static func allocatorCounts() throws(SharedMemoryError) -> (allocated: Int, free: Int) {
        let statistics = try ArenaSources.defaultArena().statistics()
        return (statistics.allocatedBlocks, statistics.freeBlocks)
    }

    /// Ends this process inside an allocation of `byteCount` bytes: lock taken, journal
    /// committed, only `appliedWrites` of its writes applied.
    package static func dieInsideAllocation(byteCount: Int, appliedWrites: Int) throws(SharedMemoryError) -> Never {
        try ArenaSources.defaultArena().dieInsideAllocation(byteCount: byteCount, appliedWrites: appliedWrites)
    }

    /// The names of the segments the tracker holds (created, not yet unlinked).
    package static func trackedSegmentNames() throws(SharedMemoryError) -> [String] {
        try ArenaSources.defaultArena().trackedSegmentNames()
    }
}
