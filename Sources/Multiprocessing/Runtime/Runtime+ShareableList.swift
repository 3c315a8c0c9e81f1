// The public initializers of ShareableList and SharedMemoryManager: the default runtime's
// arena tracks their segments, or a given runtime's.

extension ShareableList {
    /// Makes a list of `elements` in a new segment named `name` (a fresh "mp_..." name when
    /// nil), tracked by the default runtime's tracker unless `track` is false (Python's
    /// `ShareableList(sequence, name=name)`).
    ///
    /// Throws ``SharedMemoryError/Code/valueTooLarge`` for a string or bytes beyond the largest
    /// slot (9,999,999 bytes), and as ``SharedMemory/init(size:name:track:)`` does
    /// (``SharedMemoryError/Code/segmentExists``, ``SharedMemoryError/Code/notBootstrapped``...).
    public convenience init(_ elements: [Element], name: String? = nil, track: Bool = true) throws(SharedMemoryError) {
        try self.init(elements, name: name, tracker: track ? Runtime.defaultArena() : nil)
    }

    /// ``init(_:name:track:)`` tracked by `runtime`'s tracker.
    public convenience init(_ elements: [Element], name: String? = nil, track: Bool = true, runtime: Runtime) throws(SharedMemoryError) {
        try self.init(elements, name: name, tracker: track ? runtime.arena() : nil)
    }

    /// Attaches to the list in the segment `name` (with or without its leading slash), made
    /// here or by Python (Python's `ShareableList(name=name)`). Throws
    /// ``SharedMemoryError/Code/segmentNotFound`` when there is none,
    /// ``SharedMemoryError/Code/notAShareableList`` when the segment holds something else.
    /// Works before bootstrap too (its ``unlink()`` then updates no tracker).
    public convenience init(attaching name: String) throws(SharedMemoryError) {
        try self.init(attaching: name, tracker: try? Runtime.ifInstalled?.arena())
    }
}

extension SharedMemoryManager {
    /// A manager whose segments the default runtime's tracker records (Python's
    /// `SharedMemoryManager()` then `start()`). Throws
    /// ``SharedMemoryError/Code/notBootstrapped`` before bootstrap,
    /// ``SharedMemoryError/Code/arenaUnavailable`` or ``SharedMemoryError/Code/arenaExhausted``.
    public convenience init() throws(SharedMemoryError) {
        try self.init(arena: Runtime.defaultArena())
    }

    /// ``init()`` in `runtime`'s arena.
    public convenience init(runtime: Runtime) throws(SharedMemoryError) {
        try self.init(arena: runtime.arena())
    }
}
