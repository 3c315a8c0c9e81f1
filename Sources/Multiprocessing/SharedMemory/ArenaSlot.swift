import Synchronization

/// A runtime's arena: in a root runtime, created on first use together with its segment
/// tracker; in a child's runtime, the one the child inherited, mapped once. The `Runtime`
/// holds one and hands the arena to whatever allocates in it.
///
/// ```swift
/// let slot = ArenaSlot()                        // a root's: nothing made yet
/// let lock = try Lock(in: slot.arena())         // the arena (and its tracker) made now
/// slot.stopTracking()                           // at the runtime's shutdown
/// ```
final class ArenaSlot: Sendable {
    private let state: Mutex<Result<Arena, SharedMemoryError>?>
    private let tracker = Mutex<SegmentTracker?>(nil)

    /// A root's slot: the arena is created on first use (a failed creation is tried again on
    /// the next use).
    init() { state = Mutex(nil) }

    /// A child's slot: the arena it inherited, mapped now (a child started without one keeps
    /// the error, thrown on every use).
    static func inherited() -> ArenaSlot { ArenaSlot(Result { () throws(SharedMemoryError) in try Arena.inherited() }) }

    private init(_ opened: Result<Arena, SharedMemoryError>) { state = Mutex(opened) }

    /// The arena, created now in a root slot if it was not. Throws
    /// ``SharedMemoryError/Code/arenaUnavailable`` when it cannot be created or was not
    /// inherited.
    func arena() throws(SharedMemoryError) -> Arena {
        try state.withLock { (state) throws(SharedMemoryError) -> Arena in
            if let state { return try state.get() }
            let arena = try Arena.create()
            state = .success(arena)
            let started = SegmentTracker(root: arena)
            tracker.withLock { $0 = started }
            return arena
        }
    }

    /// The arena if it was made (or inherited) already.
    var ifOpened: Arena? { state.withLock { try? $0?.get() } }

    /// What a spawn passes to a child: the arena's descriptor, once there is an arena.
    var descriptorsForChildren: [(label: String, descriptor: FileDescriptor)] {
        ifOpened.map { [(label: Arena.descriptorLabel, descriptor: $0.descriptor)] } ?? []
    }

    /// In a root: unlinks every segment still tracked and stops the tracker process (the
    /// runtime's shutdown, an interrupted exit). Nothing in a child's slot.
    func stopTracking() {
        let stopped = tracker.withLock { current in
            defer { current = nil }
            return current
        }
        stopped?.stop()
    }
}
