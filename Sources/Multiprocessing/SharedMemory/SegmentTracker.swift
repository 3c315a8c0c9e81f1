import Synchronization

/// The resource tracker of named shared memory segments (Python's `resource_tracker`): the
/// names of live segments are kept in a table in the arena, which every process of the tree
/// maps. `SharedMemory(size:)` registers a name there, `unlink` removes it, from any
/// process. The root (the runtime that created the arena) unlinks every name still in the
/// table at its shutdown, or when its process exits: normally, after its children
/// (`atexit`), and on SIGINT/SIGTERM, after stopping them (`Interrupts`). A child that crashes leaves its names in the table, so they
/// go at the root's exit.
///
/// A root killed with SIGKILL runs none of that: a tracker process (``TrackerProcess``),
/// started with the arena, holds the read end of a pipe whose write end only the root has;
/// the root's death, however it comes, is an end of file there, and the tracker unlinks what
/// is left in the table (its copy of the arena's mapping survives) and exits. After a normal
/// exit the root closes the pipe and reaps the tracker.
final class SegmentTracker: Sendable {
    /// The root arena whose segment table this tracks.
    let arena: Arena
    private let process: Mutex<TrackerProcess?>

    /// The trackers the exit handler cleans up, and whether it is installed: a C `atexit`
    /// handler captures nothing, so this list is process-wide (ARCHITECTURE's one default).
    private static let live = Mutex<(handlerInstalled: Bool, trackers: [SegmentTracker])>((handlerInstalled: false, trackers: []))

    /// Called once by a root runtime's ``ArenaSlot`` when it creates `arena`: the exit-time
    /// cleanup, and the tracker process for a death that skips it. Without a tracker (a fork
    /// that failed), the exit-time cleanup still runs.
    init(root arena: Arena) {
        self.arena = arena
        process = Mutex(try? TrackerProcess.start(table: UnsafeRawPointer(arena.base + ArenaLayout.segmentTableOffset),
                                                  slotCount: ArenaLayout.segmentSlotCount, slotSize: ArenaLayout.segmentSlotSize))
        let installHandler = Self.live.withLock { live in
            live.trackers.append(self)
            defer { live.handlerInstalled = true }
            return !live.handlerInstalled
        }
        if installHandler { ProcessEnvironment.atExit { SegmentTracker.stopEveryTracker() } }
    }

    /// At the root's exit: every live tracker unlinks what is left and stops.
    static func stopEveryTracker() {
        for tracker in live.withLock({ $0.trackers }) { tracker.stop() }
    }

    /// Unlinks what is left in the table, then stops and reaps the tracker process; forgets
    /// this tracker. Twice is harmless.
    func stop() {
        unlinkEverySegment()
        process.withLock { current in
            current?.stop()
            current = nil
        }
        Self.live.withLock { $0.trackers.removeAll { $0 === self } }
    }

    /// Unlinks every segment still registered.
    func unlinkEverySegment() {
        guard let names = try? arena.trackedSegmentNames() else { return }
        for name in names {
            _ = FileDescriptor._unlinkSharedMemory(name: SharedMemory.systemName(name))
            _ = try? arena.unregisterSegment(name)
        }
    }
}

// MARK: - The segment table in the arena
//
// A slot (``ArenaLayout/segmentSlotSize`` bytes): +0 state (1 = a live segment's name), +8
// the creator's pid, +16 the name's length, +24 the name's bytes. A slot's name is written
// while the slot is free, then the state is committed through the allocator's journal, under
// its lock: a process dying in between leaves the table valid.

extension Arena {
    static let maximumSegmentNameLength = ArenaLayout.segmentSlotSize - 24

    private func slotOffset(_ index: Int) -> Int { ArenaLayout.segmentTableOffset + index * ArenaLayout.segmentSlotSize }

    private func slotName(_ slot: Int) -> String? {
        let length = Int(word(slot + 16))
        guard length > 0, length <= Self.maximumSegmentNameLength else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: base + slot + 24, count: length), as: UTF8.self)
    }

    /// Adds `name` to the table. Throws ``SharedMemoryError/Code/tooManySegments`` when full.
    func registerSegment(_ name: String) throws(SharedMemoryError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maximumSegmentNameLength else {
            throw SharedMemoryError(.invalidArgument, "the segment name \"\(name)\" must have 1 to \(Self.maximumSegmentNameLength) bytes")
        }
        try withAllocatorLock { () throws(SharedMemoryError) in
            guard let index = (0..<ArenaLayout.segmentSlotCount).first(where: { word(slotOffset($0)) == 0 }) else {
                throw SharedMemoryError(.tooManySegments, "cannot track the segment \"\(name)\": \(ArenaLayout.segmentSlotCount) segments are live already (unlink some)")
            }
            let slot = slotOffset(index)
            base.storeBytes(of: UInt64(ProcessControl.id), toByteOffset: slot + 8, as: UInt64.self)
            base.storeBytes(of: UInt64(bytes.count), toByteOffset: slot + 16, as: UInt64.self)
            bytes.withUnsafeBytes { (base + slot + 24).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            commit([(slot, 1)])
        }
    }

    /// Removes `name` from the table; false if it was not there.
    @discardableResult
    func unregisterSegment(_ name: String) throws(SharedMemoryError) -> Bool {
        try withAllocatorLock { () throws(SharedMemoryError) -> Bool in
            for index in 0..<ArenaLayout.segmentSlotCount {
                let slot = slotOffset(index)
                if word(slot) == 1, slotName(slot) == name {
                    commit([(slot, 0)])
                    return true
                }
            }
            return false
        }
    }

    /// The names in the table.
    func trackedSegmentNames() throws(SharedMemoryError) -> [String] {
        try withAllocatorLock { () throws(SharedMemoryError) -> [String] in
            (0..<ArenaLayout.segmentSlotCount).compactMap { index in
                let slot = slotOffset(index)
                return word(slot) == 1 ? slotName(slot) : nil
            }
        }
    }
}
