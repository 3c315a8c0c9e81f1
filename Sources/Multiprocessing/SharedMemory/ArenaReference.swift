/// One handle's hold on an arena block, in this process: the block's handle count (in its
/// header, ``ArenaLayout/BlockField/handles``) counts this object once, and its `deinit` gives
/// that count back; the release that takes the count to 0 frees the block, under the arena's
/// allocator lock. Every arena-backed primitive and shared value holds one, so its memory goes
/// with the last handle in every process.
///
/// The count lives in shared memory and is changed only under the allocator lock, after
/// checking the block's generation: a release after an explicit `free()` (or after the block
/// was allocated again) changes nothing, so there is no double free.
///
/// Limits: a process killed with handles alive never gives their counts back (nothing runs in
/// a killed process), so those blocks stay allocated until the arena goes, when the root
/// process exits. An encoded handle holds a count until it is decoded (see
/// ``Arena/retainHandle(_:)``): one that is never decoded keeps its block until then too, and
/// the same bytes decoded twice (a queue item redelivered after its first consumer released
/// its copy and exited without `taskDone`) adopt one count too many, so keep a handle of your
/// own while such an item may come back.
final class ArenaReference: Sendable {
    let arena: Arena
    let handle: ArenaHandle

    /// Takes over the count of a block just allocated (1) or of an encoded handle just decoded.
    init(adopting handle: ArenaHandle, in arena: Arena) {
        self.arena = arena
        self.handle = handle
    }

    deinit { arena.releaseHandle(handle) }
}

extension Arena {
    /// Counts one more holder of `handle`'s block: an encoding of the handle on its way to a
    /// decoder (in this process or another), which adopts the count instead of adding one.
    /// That is what keeps a handle sent to a child usable when the sender drops its own first.
    /// Throws ``SharedMemoryError/Code/staleHandle`` when the block was freed.
    func retainHandle(_ handle: ArenaHandle) throws(SharedMemoryError) {
        try withAllocatorLock { () throws(SharedMemoryError) in
            let block = try blockHeader(of: handle)
            guard block.generation == handle.generation else {
                throw SharedMemoryError(.staleHandle, "the \(handle) is stale: its memory was freed")
            }
            let offset = block.offset + ArenaLayout.BlockField.handles
            base.storeBytes(of: word(offset) &+ 1, toByteOffset: offset, as: UInt64.self)
        }
    }

    /// Gives back one holder's count of `handle`'s block and frees the block when it was the
    /// last. Does nothing for a block freed already (explicitly, or its generation changed).
    func releaseHandle(_ handle: ArenaHandle) {
        _ = try? withAllocatorLock { () throws(SharedMemoryError) in
            let block = try blockHeader(of: handle)
            guard block.generation == handle.generation, block.byteCount == handle.byteCount else { return }
            let offset = block.offset + ArenaLayout.BlockField.handles
            let count = word(offset)
            if count <= 1 {
                try freeLocked(handle)
            } else {
                base.storeBytes(of: count - 1, toByteOffset: offset, as: UInt64.self)
            }
        }
    }

    /// The handle count of `handle`'s block (for tests), nil once freed.
    func handleCount(_ handle: ArenaHandle) -> UInt64? {
        try? withAllocatorLock { () throws(SharedMemoryError) -> UInt64? in
            let block = try blockHeader(of: handle)
            guard block.generation == handle.generation else { return nil }
            return word(block.offset + ArenaLayout.BlockField.handles)
        }
    }
}
