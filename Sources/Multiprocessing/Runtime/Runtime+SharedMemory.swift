// The shared-memory primitives' public initializers: Python's default context, the default
// runtime's arena. Each calls the designated initializer of its folder, which takes the arena.

extension Runtime: ArenaSource {
    /// This runtime's arena: created on first use in a root runtime, the inherited one in a
    /// child's. Throws ``SharedMemoryError/Code/arenaUnavailable`` when it cannot be made.
    func arena() throws(SharedMemoryError) -> Arena { try arenaSlot.arena() }

    /// The default runtime's arena. Throws ``SharedMemoryError/Code/notBootstrapped`` before
    /// bootstrap made the default runtime.
    static func defaultArena() throws(SharedMemoryError) -> Arena {
        guard let runtime = ifInstalled else { throw ArenaSources.notBootstrapped }
        return try runtime.arena()
    }

    /// ``defaultArena()`` for a synchronization primitive: its error says what was being made.
    static func defaultArena(for what: String) throws(SynchronizationError) -> Arena {
        do { return try defaultArena() } catch { throw .sharedMemory(error, "\(what): allocating its shared state") }
    }

    /// ``arena()`` for a synchronization primitive: its error says what was being made.
    func arena(for what: String) throws(SynchronizationError) -> Arena {
        do { return try arena() } catch { throw .sharedMemory(error, "\(what): allocating its shared state") }
    }
}

extension SharedLock {
    /// A new unlocked lock of this class's kind (create a ``Lock`` or an ``RLock``) in the
    /// default runtime's arena. Throws ``SynchronizationError/Code/sharedMemoryUnavailable``
    /// before bootstrap (its underlying error's code is
    /// ``SharedMemoryError/Code/notBootstrapped``), or when the arena is unavailable or full.
    public convenience init() throws(SynchronizationError) {
        try self.init(in: Runtime.defaultArena(for: Self.kind.name))
    }

    /// ``init()`` in `runtime`'s arena (a child of `runtime` reaches it).
    public convenience init(runtime: Runtime) throws(SynchronizationError) {
        try self.init(in: runtime.arena(for: Self.kind.name))
    }
}

extension Multiprocessing.Semaphore {
    /// A semaphore holding `value` units (0 ... `Int32.max`) in the default runtime's arena.
    /// Throws ``SynchronizationError/Code/invalidArgument`` for a value outside that range
    /// (Python's `ValueError` for a negative one),
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` before bootstrap, or when the
    /// arena is unavailable or full.
    public convenience init(_ value: Int = 1) throws(SynchronizationError) {
        try SemaphoreCore.validate(value, Self.kind.name)
        try self.init(value, in: Runtime.defaultArena(for: Self.kind.name))
    }

    /// ``init(_:)`` in `runtime`'s arena.
    public convenience init(_ value: Int = 1, runtime: Runtime) throws(SynchronizationError) {
        try self.init(value, in: runtime.arena(for: Self.kind.name))
    }
}

extension Condition {
    /// A condition over a new ``RLock`` (Python's default), in the default runtime's arena.
    /// Throws ``SynchronizationError/Code/sharedMemoryUnavailable`` before bootstrap, or when
    /// the arena is unavailable or full.
    public convenience init() throws(SynchronizationError) {
        try self.init(in: Runtime.defaultArena(for: Self.name))
    }

    /// ``init()`` in `runtime`'s arena (its new ``RLock`` too).
    public convenience init(runtime: Runtime) throws(SynchronizationError) {
        try self.init(in: runtime.arena(for: Self.name))
    }

    /// A condition over `lock`, which ``withLock(timeout:_:)`` takes and ``wait(timeout:)``
    /// releases; the same lock may also be used directly. Its state goes in the lock's arena.
    public convenience init(lock: Lock) throws(SynchronizationError) {
        try self.init(lock: lock, in: Self.arena(of: lock))
    }

    /// A condition over the reentrant `lock`, in the lock's arena.
    public convenience init(lock: RLock) throws(SynchronizationError) {
        try self.init(lock: lock, in: Self.arena(of: lock))
    }

    /// The arena of `lock`, or the default runtime's for a lock placed outside any arena.
    private static func arena(of lock: SharedLock) throws(SynchronizationError) -> Arena {
        if let arena = lock.placement.arena { return arena }
        return try Runtime.defaultArena(for: name)
    }
}

extension Event {
    /// A new event, not set, in the default runtime's arena. Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` before bootstrap, or when the
    /// arena is unavailable or full.
    public convenience init() throws(SynchronizationError) {
        try self.init(in: Runtime.defaultArena(for: Self.name))
    }

    /// ``init()`` in `runtime`'s arena.
    public convenience init(runtime: Runtime) throws(SynchronizationError) {
        try self.init(in: runtime.arena(for: Self.name))
    }
}

extension Barrier {
    /// A barrier for `parties` parties (at least 1) in the default runtime's arena. `action`
    /// runs in the last party to arrive each round (registered in every process, see
    /// ``BarrierAction``); `timeout` is the default for waits that give none (nil: wait for as
    /// long as it takes). Throws ``SynchronizationError/Code/unregisteredAction`` when this
    /// process has not registered `action`, ``SynchronizationError/Code/invalidArgument`` for
    /// fewer than 1 party or more than 65,536 (a negative timeout is zero, as for
    /// ``wait(timeout:)-(Duration?)``), ``SynchronizationError/Code/sharedMemoryUnavailable``
    /// before bootstrap, or when the arena is unavailable or full.
    public convenience init(parties: Int, action: BarrierAction? = nil, timeout: Duration? = nil) throws(SynchronizationError) {
        try Self.validate(parties: parties, timeout: timeout)
        try self.init(parties: parties, action: action, timeout: timeout, in: Runtime.defaultArena(for: Self.name))
    }

    /// ``init(parties:action:timeout:)`` in `runtime`'s arena.
    public convenience init(parties: Int, action: BarrierAction? = nil, timeout: Duration? = nil, runtime: Runtime) throws(SynchronizationError) {
        try Self.validate(parties: parties, timeout: timeout)
        try self.init(parties: parties, action: action, timeout: timeout, in: runtime.arena(for: Self.name))
    }
}

extension SharedValue {
    /// A new value in the default runtime's arena, set to `initial`, guarded as `lock` says (a
    /// new ``RLock`` by default). Throws ``SharedMemoryError/Code/notBootstrapped`` before
    /// bootstrap, ``SharedMemoryError/Code/arenaUnavailable`` when the arena cannot be made,
    /// ``SharedMemoryError/Code/arenaExhausted`` when it is full.
    public init(_ initial: Value, lock: ValueLock = .reentrant) throws {
        try self.init(initial, lock: lock, in: Runtime.defaultArena())
    }

    /// ``init(_:lock:)`` in `runtime`'s arena (a new lock goes there too).
    public init(_ initial: Value, lock: ValueLock = .reentrant, runtime: Runtime) throws {
        try self.init(initial, lock: lock, in: runtime.arena())
    }
}

extension SharedArray {
    /// A new array of `count` copies of `value` in the default runtime's arena, guarded as
    /// `lock` says (a new ``RLock`` by default). Throws
    /// ``SharedMemoryError/Code/invalidArgument`` for a negative count,
    /// ``SharedMemoryError/Code/tooLarge`` for one the arena can never hold,
    /// ``SharedMemoryError/Code/arenaExhausted`` when it is full,
    /// ``SharedMemoryError/Code/notBootstrapped`` before bootstrap.
    public init(repeating value: Element, count: Int, lock: ValueLock = .reentrant) throws {
        try self.init(repeating: value, count: count, lock: lock, in: Runtime.defaultArena())
    }

    /// A new array holding `elements`, in order, in the default runtime's arena, guarded as
    /// `lock` says (a new ``RLock`` by default). Throws as ``init(repeating:count:lock:)``.
    public init(_ elements: some Collection<Element>, lock: ValueLock = .reentrant) throws {
        try self.init(elements, lock: lock, in: Runtime.defaultArena())
    }

    /// ``init(repeating:count:lock:)`` in `runtime`'s arena (a new lock goes there too).
    public init(repeating value: Element, count: Int, lock: ValueLock = .reentrant, runtime: Runtime) throws {
        try self.init(repeating: value, count: count, lock: lock, in: runtime.arena())
    }

    /// ``init(_:lock:)`` in `runtime`'s arena (a new lock goes there too).
    public init(_ elements: some Collection<Element>, lock: ValueLock = .reentrant, runtime: Runtime) throws {
        try self.init(elements, lock: lock, in: runtime.arena())
    }
}

extension SharedAtomic {
    /// A new atomic integer in the default runtime's arena, set to `initial`. Throws
    /// ``SharedMemoryError/Code/notBootstrapped`` before bootstrap,
    /// ``SharedMemoryError/Code/arenaUnavailable`` or ``SharedMemoryError/Code/arenaExhausted``.
    public init(_ initial: Value) throws(SharedMemoryError) {
        try self.init(initial, in: Runtime.defaultArena())
    }

    /// ``init(_:)`` in `runtime`'s arena.
    public init(_ initial: Value, runtime: Runtime) throws(SharedMemoryError) {
        try self.init(initial, in: runtime.arena())
    }
}

extension SharedMemory {
    /// Creates a segment of `size` bytes (zero-filled) named `name`, or a fresh name like
    /// "mp_1f3a9c2e" when nil, and registers it with the default runtime's tracker unless
    /// `track` is false.
    ///
    /// `track: false` is Python 3.13's `track=False`: the tracker does not know the segment,
    /// so it stays in `/dev/shm` after this process and the whole program exit, until someone
    /// calls ``unlink()`` (or ``unlink(name:)``); use it for a segment meant to outlive the
    /// program or owned by another.
    ///
    /// Throws ``SharedMemoryError/Code/invalidArgument`` for a size of 0 or less or a bad
    /// name, ``SharedMemoryError/Code/tooLarge`` when `/dev/shm` has not that much room left,
    /// ``SharedMemoryError/Code/segmentExists`` when the name is taken,
    /// ``SharedMemoryError/Code/tooManySegments`` when the tracker is full,
    /// ``SharedMemoryError/Code/notBootstrapped`` before bootstrap and
    /// ``SharedMemoryError/Code/arenaUnavailable`` in a process without an arena (a tracked
    /// segment needs one; `track: false` needs neither).
    public convenience init(size: Int, name: String? = nil, track: Bool = true) throws(SharedMemoryError) {
        try self.init(size: size, name: name, tracker: track ? Runtime.defaultArena() : nil)
    }

    /// ``init(size:name:track:)`` tracked by `runtime`'s tracker (its root unlinks it at the
    /// end, as for the default runtime's).
    public convenience init(size: Int, name: String? = nil, track: Bool = true, runtime: Runtime) throws(SharedMemoryError) {
        try self.init(size: size, name: name, tracker: track ? runtime.arena() : nil)
    }

    /// Attaches to the existing segment `name` (with or without its leading slash), mapping all
    /// of it. Throws ``SharedMemoryError/Code/segmentNotFound`` when there is none,
    /// ``SharedMemoryError/Code/invalidArgument`` for a bad name or an empty segment. Works
    /// before bootstrap too (its ``unlink()`` then updates no tracker).
    public convenience init(attaching name: String) throws(SharedMemoryError) {
        try self.init(attaching: name, tracker: try? Runtime.ifInstalled?.arena())
    }

    /// Unlinks the segment `name` (see ``unlink()``) without attaching to it, and removes it
    /// from the default runtime's tracker.
    public static func unlink(name: String) throws(SharedMemoryError) {
        try unlink(name: name, tracker: try? Runtime.ifInstalled?.arena())
    }
}
