import Synchronization

/// Where things are in the arena. Every metadata field is a 64-bit word.
enum ArenaLayout {
    /// What the root reserves: 1 GiB of address space, sparse (pages are allocated when
    /// touched), so the arena never needs remapping.
    static let reservedSize = 1 << 30
    static let magic: UInt64 = 0x616e_6572_612d_706d   // "mp-arena", little-endian
    static let version: UInt64 = 1

    // The header page.
    static let magicOffset = 0
    static let versionOffset = 8
    static let idOffset = 16
    static let sizeOffset = 24
    /// The bump pointer: the first byte never handed out.
    static let topOffset = 32
    /// The last generation handed out.
    static let generationOffset = 40
    /// The journal: a count (the commit word) and up to ``journalCapacity`` (offset, value)
    /// pairs. See ``Arena/commit(_:)``.
    static let journalCountOffset = 64
    static let journalEntriesOffset = 72
    static let journalCapacity = 8
    /// One free list head (a block offset, 0 for empty) per size class.
    static let freeHeadsOffset = 256
    static let classCount = 31
    static let mutexOffset = 1024

    /// The segment table: ``segmentSlotCount`` slots of ``segmentSlotSize`` bytes.
    static let segmentTableOffset = 4096
    static let segmentSlotSize = 256
    static let segmentSlotCount = 512
    /// Blocks start here (page aligned).
    static let dataStart = segmentTableOffset + segmentSlotSize * segmentSlotCount

    /// Each block starts with a header of this size; the payload follows, 64-byte aligned.
    static let blockHeaderSize = 64
    /// The smallest block is 2^7 = 128 bytes (64 of header, 64 of payload).
    static let smallestClass = 7

    enum BlockField {
        /// The block's size (a power of two), header included.
        static let size = 0
        /// The allocation's generation; 0 while the block is free.
        static let generation = 8
        /// The bytes asked for.
        static let byteCount = 16
        /// The next free block of the same class (while free).
        static let next = 24
        /// The allocation's type tag.
        static let tag = 32
        /// How many handles hold the allocation: live handle objects in every process, plus
        /// encoded copies not decoded yet (``Arena/retainHandle(_:)``). 1 when allocated; the
        /// release that takes it to 0 frees the block.
        static let handles = 40
    }

    /// The size class of a block holding `byteCount` bytes: the smallest power of two that
    /// fits the header and the bytes.
    static func sizeClass(forByteCount byteCount: Int) -> Int {
        let total = byteCount + blockHeaderSize
        let bits = Int.bitWidth - (total - 1).leadingZeroBitCount
        return max(smallestClass, bits)
    }

    /// The largest allocation the arena could ever hold.
    static func largestByteCount(arenaSize: Int) -> Int {
        var size = 1 << smallestClass
        while size * 2 <= arenaSize - dataStart { size *= 2 }
        return size - blockHeaderSize
    }

    /// A stable 64-bit tag for a type (FNV-1a of its full name), the same in every process
    /// running the same program.
    static func typeTag<T>(_ type: T.Type) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in String(reflecting: type).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash
    }
}

/// A block header read from the arena.
struct ArenaBlock {
    var offset: Int
    var size: UInt64
    var generation: UInt64
    var byteCount: UInt64
    var tag: UInt64
}

// MARK: - The allocator
//
// Segregated free lists of power-of-two blocks, never split or merged (so a free is O(1) and
// the bookkeeping stays a handful of words), a bump pointer for fresh blocks. Every change to
// the bookkeeping is a list of word writes, written to the journal first and committed by one
// store of its count: a process that dies inside the allocator leaves either no committed
// journal (nothing changed) or a committed one, which the next process to take the lock
// (told `EOWNERDEAD`) replays before going on. Applying the same writes twice is harmless.

extension Arena {
    /// A word of the arena's metadata.
    @inline(__always)
    func word(_ offset: Int) -> UInt64 { base.load(fromByteOffset: offset, as: UInt64.self) }

    private var journalCount: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + ArenaLayout.journalCountOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// Runs `body` holding the allocator's robust mutex; replays a dead owner's journal first.
    func withAllocatorLock<R>(_ body: () throws(SharedMemoryError) -> R) throws(SharedMemoryError) -> R {
        switch mutex.lock() {
        case .success(.acquired), .success(.unavailable):
            break
        case .success(.ownerDied):
            replayJournal()
            _ = mutex.markConsistent()
        case .success(.alreadyOwned):
            // The allocator never calls back into itself: a bug, not a state to recover from.
            preconditionFailure("the arena's allocator lock was taken again by its holder")
        case .failure(let errno):
            throw SharedMemoryError(SystemError(errno, operation: "pthread_mutex_lock", subject: .name("mp-arena")), "the arena's allocator lock")
        }
        defer { _ = mutex.unlock() }
        return try body()
    }

    /// Writes `writes` (arena offset, new value) to the journal, commits, applies them, and
    /// clears the journal. Holding the allocator lock.
    func commit(_ writes: [(offset: Int, value: UInt64)], applyingOnly limit: Int? = nil) {
        precondition(writes.count <= ArenaLayout.journalCapacity, "an arena transaction is larger than the journal")
        for (index, write) in writes.enumerated() {
            base.storeBytes(of: UInt64(write.offset), toByteOffset: ArenaLayout.journalEntriesOffset + 16 * index, as: UInt64.self)
            base.storeBytes(of: write.value, toByteOffset: ArenaLayout.journalEntriesOffset + 16 * index + 8, as: UInt64.self)
        }
        journalCount.pointee.store(UInt64(writes.count), ordering: .releasing)
        for write in writes.prefix(limit ?? writes.count) {
            base.storeBytes(of: write.value, toByteOffset: write.offset, as: UInt64.self)
        }
        if limit != nil { return }   // the crash test stops here
        journalCount.pointee.store(0, ordering: .releasing)
    }

    /// Re-applies a committed journal left by a process that died holding the lock.
    private func replayJournal() {
        let count = Int(journalCount.pointee.load(ordering: .acquiring))
        if count > 0, count <= ArenaLayout.journalCapacity {
            for index in 0..<count {
                let offset = Int(word(ArenaLayout.journalEntriesOffset + 16 * index))
                let value = word(ArenaLayout.journalEntriesOffset + 16 * index + 8)
                // A journal entry always names a metadata word; anything else is garbage.
                if offset >= 0, offset + 8 <= size, offset % 8 == 0 { base.storeBytes(of: value, toByteOffset: offset, as: UInt64.self) }
            }
        }
        journalCount.pointee.store(0, ordering: .releasing)
    }

    private func freeHeadOffset(_ sizeClass: Int) -> Int { ArenaLayout.freeHeadsOffset + 8 * (sizeClass - ArenaLayout.smallestClass) }

    /// The writes of an allocation of `byteCount` bytes, and whether the block was used before.
    func allocationWrites(byteCount: Int, tag: UInt64) throws(SharedMemoryError) -> (writes: [(offset: Int, value: UInt64)], handle: ArenaHandle, recycled: Bool) {
        let largest = ArenaLayout.largestByteCount(arenaSize: size)
        guard byteCount <= largest else {
            throw SharedMemoryError(.tooLarge, "cannot allocate \(byteCount) bytes: the arena holds at most \(largest) bytes in one allocation")
        }
        let sizeClass = ArenaLayout.sizeClass(forByteCount: byteCount)
        let blockSize = 1 << sizeClass
        let generation = word(ArenaLayout.generationOffset) &+ 1
        let head = word(freeHeadOffset(sizeClass))
        var writes: [(offset: Int, value: UInt64)] = [(ArenaLayout.generationOffset, generation)]
        let block: Int
        if head != 0 {
            block = Int(head)
            guard block >= ArenaLayout.dataStart, block + blockSize <= size,
                  word(block + ArenaLayout.BlockField.size) == UInt64(blockSize),
                  word(block + ArenaLayout.BlockField.generation) == 0 else {
                throw SharedMemoryError(.corrupted, "the arena's free list of \(blockSize)-byte blocks points at offset \(block), which is not a free block")
            }
            writes.append((freeHeadOffset(sizeClass), word(block + ArenaLayout.BlockField.next)))
        } else {
            let top = Int(word(ArenaLayout.topOffset))
            guard top + blockSize <= size else {
                throw SharedMemoryError(.arenaExhausted, "the arena is full: \(byteCount) bytes asked for, \(size - top) bytes never used remain (and no free \(blockSize)-byte block)")
            }
            block = top
            writes.append((ArenaLayout.topOffset, UInt64(top + blockSize)))
            writes.append((block + ArenaLayout.BlockField.size, UInt64(blockSize)))
        }
        writes.append((block + ArenaLayout.BlockField.byteCount, UInt64(byteCount)))
        writes.append((block + ArenaLayout.BlockField.tag, tag))
        writes.append((block + ArenaLayout.BlockField.next, 0))
        writes.append((block + ArenaLayout.BlockField.handles, 1))
        // Last: a block with a generation is allocated.
        writes.append((block + ArenaLayout.BlockField.generation, generation))
        let handle = ArenaHandle(arena: id, offset: UInt64(block + ArenaLayout.blockHeaderSize),
                                 byteCount: UInt64(byteCount), generation: generation)
        return (writes, handle, head != 0)
    }

    func allocateLocked(byteCount: Int, tag: UInt64) throws(SharedMemoryError) -> (ArenaHandle, Bool) {
        let (writes, handle, recycled) = try allocationWrites(byteCount: byteCount, tag: tag)
        commit(writes)
        return (handle, recycled)
    }

    func freeLocked(_ handle: ArenaHandle) throws(SharedMemoryError) {
        let block = try blockHeader(of: handle)
        guard block.generation == handle.generation, block.byteCount == handle.byteCount else {
            throw SharedMemoryError(.staleHandle, "cannot free the \(handle): it was freed already"
                + (block.generation == 0 ? "" : " and allocated again (now generation \(block.generation))"))
        }
        let sizeClass = Int(block.size.trailingZeroBitCount)
        commit([(block.offset + ArenaLayout.BlockField.generation, 0),
                (block.offset + ArenaLayout.BlockField.next, word(freeHeadOffset(sizeClass))),
                (freeHeadOffset(sizeClass), UInt64(block.offset))])
    }

    /// The header of the block `handle` points into, checked to be a block of this arena.
    func blockHeader(of handle: ArenaHandle) throws(SharedMemoryError) -> ArenaBlock {
        let offset = Int(clamping: handle.offset) - ArenaLayout.blockHeaderSize
        let top = Int(word(ArenaLayout.topOffset))
        guard offset >= ArenaLayout.dataStart, offset < top, (offset - ArenaLayout.dataStart) % 64 == 0 else {
            throw SharedMemoryError(.invalidArgument, "the \(handle) does not point at a block of this arena (blocks are between offsets \(ArenaLayout.dataStart) and \(top))")
        }
        let blockSize = word(offset + ArenaLayout.BlockField.size)
        guard blockSize.nonzeroBitCount == 1, blockSize >= 1 << ArenaLayout.smallestClass, offset + Int(blockSize) <= top else {
            throw SharedMemoryError(.invalidArgument, "the \(handle) does not point at a block of this arena (no block header at offset \(offset))")
        }
        return ArenaBlock(offset: offset, size: blockSize, generation: word(offset + ArenaLayout.BlockField.generation),
                          byteCount: word(offset + ArenaLayout.BlockField.byteCount), tag: word(offset + ArenaLayout.BlockField.tag))
    }

    /// What the allocator holds, after checking that its bookkeeping adds up: every block
    /// from the start to the bump pointer, every free list, the journal.
    struct Statistics: Equatable {
        var allocatedBlocks = 0
        var freeBlocks = 0
        var allocatedBytes = 0
        /// Bytes of address space handed out to blocks so far (the bump pointer).
        var usedAddressSpace = 0
    }

    func statistics() throws(SharedMemoryError) -> Statistics {
        try withAllocatorLock { () throws(SharedMemoryError) -> Statistics in
            var statistics = Statistics()
            let top = Int(word(ArenaLayout.topOffset))
            statistics.usedAddressSpace = top - ArenaLayout.dataStart
            var offset = ArenaLayout.dataStart
            var freeByClass = [Int](repeating: 0, count: ArenaLayout.classCount)
            while offset < top {
                let blockSize = Int(word(offset + ArenaLayout.BlockField.size))
                guard blockSize.nonzeroBitCount == 1, blockSize >= 1 << ArenaLayout.smallestClass, offset + blockSize <= top else {
                    throw SharedMemoryError(.corrupted, "no valid block header at offset \(offset) (size \(blockSize))")
                }
                if word(offset + ArenaLayout.BlockField.generation) == 0 {
                    statistics.freeBlocks += 1
                    freeByClass[blockSize.trailingZeroBitCount - ArenaLayout.smallestClass] += 1
                } else {
                    statistics.allocatedBlocks += 1
                    statistics.allocatedBytes += Int(word(offset + ArenaLayout.BlockField.byteCount))
                }
                offset += blockSize
            }
            for sizeClass in ArenaLayout.smallestClass..<(ArenaLayout.smallestClass + ArenaLayout.classCount) {
                var count = 0
                var block = Int(word(freeHeadOffset(sizeClass)))
                while block != 0 {
                    count += 1
                    guard count <= statistics.freeBlocks, block >= ArenaLayout.dataStart, block < top,
                          word(block + ArenaLayout.BlockField.generation) == 0,
                          word(block + ArenaLayout.BlockField.size) == UInt64(1 << sizeClass) else {
                        throw SharedMemoryError(.corrupted, "the free list of \(1 << sizeClass)-byte blocks is broken at offset \(block)")
                    }
                    block = Int(word(block + ArenaLayout.BlockField.next))
                }
                guard count == freeByClass[sizeClass - ArenaLayout.smallestClass] else {
                    throw SharedMemoryError(.corrupted, "the free list of \(1 << sizeClass)-byte blocks holds \(count) blocks; \(freeByClass[sizeClass - ArenaLayout.smallestClass]) are free")
                }
            }
            guard journalCount.pointee.load(ordering: .acquiring) == 0 else {
                throw SharedMemoryError(.corrupted, "the arena's journal was left committed")
            }
            return statistics
        }
    }

    /// For the crash tests: takes the allocator lock, commits an allocation of `byteCount`
    /// bytes, applies only `appliedWrites` of its writes, and ends the process (as a kill in
    /// the middle of an allocation would), never unlocking.
    func dieInsideAllocation(byteCount: Int, appliedWrites: Int) -> Never {
        _ = mutex.lock()
        if let (writes, _, _) = try? allocationWrites(byteCount: byteCount, tag: 0) {
            commit(writes, applyingOnly: min(appliedWrites, writes.count))
        }
        ProcessEnvironment.exitImmediately(ArenaLayout.crashExitCode)
    }
}

extension ArenaLayout {
    /// The exit code of ``Arena/dieInsideAllocation(byteCount:appliedWrites:)``.
    static let crashExitCode: Int32 = 86
}
