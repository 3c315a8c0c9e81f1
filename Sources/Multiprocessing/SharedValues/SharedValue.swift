/// A value in shared memory that every process of the tree reads and writes: Python's
/// `multiprocessing.Value` (with a lock, the default) and `RawValue` (`lock: .none`).
///
/// `Value` is any trivially copyable type (`BitwiseCopyable`: integers, floating point, tuples
/// and structs of them). A `SharedValue` is a handle: `Codable`, so it can be passed at spawn
/// or inside any message; every copy, in every process, is the same memory.
///
/// With a lock (a new ``RLock`` by default, as Python's; see ``ValueLock`` for a plain
/// ``Lock``, a shared one, or none), ``load()``, ``store(_:)`` and ``withLock(_:)`` take it, as
/// Python's `Value` does; `withLock` is how a read-modify-write stays exact under contention
/// (and, with the default reentrant lock, may be nested in one thread), and ``lock`` is
/// Python's `get_lock()`. If a process died holding the lock, the next acquisitions throw
/// ``SynchronizationError/Code/ownerDied`` until one repairs the value with
/// ``withLock(recovering:_:)`` (the ``Lock`` contract). Without a lock (`lock: .none`),
/// nothing is locked and ``withLock(_:)`` throws ``SharedMemoryError/Code/noLock``.
///
/// The memory is freed when the last handle in every process is gone (each process counts
/// its copies once; an encoded handle counts until decoded), or at once by ``free()``. A
/// process killed while holding handles never gives their counts back: that memory stays
/// until the root process exits and the arena goes. After `free`, every access through any
/// copy throws ``SharedMemoryError/Code/staleHandle``. The lock is a primitive of its own,
/// freed with its own last handle (the value holds one).
///
/// ```swift
/// let counter = try SharedValue<Int>(0)
/// let child = try await ChildProcess.start(increment, Job(counter: counter, times: 1000))
/// for _ in 0..<1000 { try counter.withLock { $0 += 1 } }
/// try await child.join()
/// print(try counter.load())   // 2000, always
/// ```
public struct SharedValue<Value: BitwiseCopyable>: Sendable, Hashable, Codable, CustomStringConvertible {
    @usableFromInline let block: SharedBlock
    /// The lock that ``load()``, ``store(_:)`` and ``withLock(_:)`` take (Python's
    /// `get_lock()`): an ``RLock`` unless made otherwise; nil for a value made with `lock: .none`.
    public let lock: SharedLock?

    /// Whether the value has a lock.
    public var isLocking: Bool { lock != nil }

    @inlinable var valuePointer: UnsafeMutablePointer<Value> { block.pointer.assumingMemoryBound(to: Value.self) }

    @usableFromInline var kind: String { "SharedValue<\(String(reflecting: Value.self))>" }

    /// A new value in `arena`, set to `initial`, guarded as `lock` says (a new lock is made in
    /// `arena` too). Throws ``SharedMemoryError/Code/arenaExhausted`` when it is full.
    /// (`SharedValue(_:lock:)`, in Runtime/, uses the default runtime's arena.)
    init(_ initial: Value, lock: ValueLock = .reentrant, in arena: Arena) throws {
        let lock = try lock.makeLock(in: arena)
        block = try SharedBlock.allocate(byteCount: MemoryLayout<Value>.size, alignment: MemoryLayout<Value>.alignment, kind: Self.self, in: arena)
        self.lock = lock
        valuePointer.initialize(to: initial)
    }

    /// The value. Takes the lock if it has one. Throws ``SharedMemoryError/Code/staleHandle``
    /// once freed, and the lock's ``SynchronizationError``s.
    @inlinable
    public func load() throws -> Value {
        try block.checkCurrent(kind)
        guard let lock else { return valuePointer.pointee }
        return try lock.withLock { valuePointer.pointee }
    }

    /// Sets the value. Takes the lock if it has one. Throws
    /// ``SharedMemoryError/Code/staleHandle`` once freed, and the lock's ``SynchronizationError``s.
    @inlinable
    public func store(_ value: Value) throws {
        try block.checkCurrent(kind)
        guard let lock else { valuePointer.pointee = value; return }
        try lock.withLock { valuePointer.pointee = value }
    }

    /// Runs `body` on the value holding its lock, so a read-modify-write is exact against
    /// every other process: Python's `with v.get_lock(): v.value += 1`. The closure is
    /// synchronous (a pthread mutex belongs to a thread: no `await` inside).
    ///
    /// Throws ``SharedMemoryError/Code/noLock`` for a value made with `lock: .none`,
    /// ``SharedMemoryError/Code/staleHandle`` once freed, the lock's errors
    /// (``SynchronizationError/Code/ownerDied`` after a holder died), and whatever `body`
    /// throws (the lock is released).
    @inlinable
    public func withLock<R>(_ body: (inout Value) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        guard let lock else { throw noLockError() }
        return try lock.withLock { try body(&valuePointer.pointee) }
    }

    /// ``withLock(_:)`` after a holder died: `recovering` runs first, under the lock, with the
    /// value as the dead holder left it, and clears the owner-died mark (see ``Lock``).
    public func withLock<R>(recovering: (inout Value) throws -> Void, _ body: (inout Value) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        guard let lock else { throw noLockError() }
        return try lock.withLock(recovering: { try recovering(&valuePointer.pointee) }) { try body(&valuePointer.pointee) }
    }

    @usableFromInline
    func noLockError() -> SharedMemoryError {
        SharedMemoryError(.noLock, "\(kind) at offset \(block.handle.offset) was made with lock: .none")
    }

    /// Runs `body` with a pointer to the value in shared memory, without locking: for values
    /// made with `lock: .none`, or code that synchronizes otherwise. The pointer is valid
    /// only inside `body` (and until the value is freed).
    @inlinable
    public func withUnsafeMutablePointer<R>(_ body: (UnsafeMutablePointer<Value>) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        return try body(valuePointer)
    }

    /// Gives the memory back to the arena now, without waiting for the last handle. Every copy
    /// of this handle, in every process, is stale from now on (its accesses throw
    /// ``SharedMemoryError/Code/staleHandle``); freeing twice throws that too; the handles'
    /// later releases change nothing.
    public func free() throws(SharedMemoryError) {
        try block.free(kind)
    }

    /// Two handles are equal when they name the same memory.
    public static func == (a: SharedValue, b: SharedValue) -> Bool { a.block == b.block }
    public func hash(into hasher: inout Hasher) { hasher.combine(block) }

    public var description: String {
        "\(kind)(offset \(block.handle.offset), generation \(block.handle.generation)\(isLocking ? "" : ", raw"))"
    }

    /// Encodes the handle (not the value) and its lock's: `{"handle", "type", "lock"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: SharedBlock.CodingKeys.self)
        try block.encode(into: &container, type: Value.self, count: nil)
        try ValueLockCoding.encode(lock, into: &container)
    }

    /// Attaches to the value an encoded handle names, in this process's arena. Throws a
    /// ``SharedMemoryError``: ``SharedMemoryError/Code/typeMismatch`` for a handle of another
    /// `Value` type, ``SharedMemoryError/Code/sizeMismatch`` for one of another size,
    /// ``SharedMemoryError/Code/staleHandle`` for a freed one,
    /// ``SharedMemoryError/Code/arenaUnavailable`` without an arena. The arena is the one of
    /// the runtime the decoder's `userInfo` names (`Runtime.userInfoKey`), else the default one.
    public init(from decoder: any Decoder) throws {
        let kind = "SharedValue<\(String(reflecting: Value.self))>"
        let container = try decoder.container(keyedBy: SharedBlock.CodingKeys.self)
        let fields = try SharedBlock.decodeFields(from: container, type: Value.self, kind: kind)
        block = try SharedBlock.attach(fields.handle, byteCount: MemoryLayout<Value>.size, kind: Self.self,
                                       in: ArenaSources.forDecoding(decoder))
        lock = try ValueLockCoding.decode(from: container)
    }
}
