/// A value in shared memory that every process of the tree reads and writes: Python's
/// `multiprocessing.Value` (with `locking: true`, the default) and `RawValue` (`locking: false`).
///
/// `Value` is any trivially copyable type (`BitwiseCopyable`: integers, floating point, tuples
/// and structs of them). A `SharedValue` is a handle: `Codable`, so it can be passed at spawn
/// or inside any message; every copy, in every process, is the same memory.
///
/// With a lock (the default), ``load()``, ``store(_:)`` and ``withLock(_:)`` take the value's
/// built-in robust, process-shared mutex, as Python's `Value` does; `withLock` is how a
/// read-modify-write stays exact under contention. Without (`locking: false`), nothing is
/// locked and ``withLock(_:)`` throws ``SharedMemoryError/Code/noLock``.
///
/// Memory lives until ``free()`` (from any process) or until the process tree ends, like a
/// Python program's shared ctypes: nothing is freed when a handle goes away, since copies
/// may live in other processes. After `free`, every access through any copy throws
/// ``SharedMemoryError/Code/staleHandle``.
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
    /// Whether the value has a built-in lock.
    public let isLocking: Bool

    @inlinable var valuePointer: UnsafeMutablePointer<Value> {
        (block.pointer + (isLocking ? ArenaMutex.slotSize : 0)).assumingMemoryBound(to: Value.self)
    }

    private static func byteCount(locking: Bool) -> Int {
        (locking ? ArenaMutex.slotSize : 0) + MemoryLayout<Value>.size
    }

    @usableFromInline var kind: String { "SharedValue<\(String(reflecting: Value.self))>" }

    /// A new value in the process tree's arena, set to `initial`. Throws
    /// ``SharedMemoryError/Code/arenaUnavailable`` when this process has no arena and
    /// ``SharedMemoryError/Code/arenaExhausted`` when it is full.
    public init(_ initial: Value, locking: Bool = true) throws(SharedMemoryError) {
        block = try SharedBlock.allocate(byteCount: Self.byteCount(locking: locking),
                                         alignment: MemoryLayout<Value>.alignment, kind: Self.self)
        isLocking = locking
        if locking { try block.initializeBuiltInLock(kind) }
        valuePointer.initialize(to: initial)
    }

    /// The value. Takes the lock if it has one. Throws ``SharedMemoryError/Code/staleHandle``
    /// once freed.
    @inlinable
    public func load() throws(SharedMemoryError) -> Value {
        try block.checkCurrent(kind)
        guard isLocking else { return valuePointer.pointee }
        let mutex = try block.lockBuiltIn(kind)
        defer { _ = mutex.unlock() }
        return valuePointer.pointee
    }

    /// Sets the value. Takes the lock if it has one. Throws
    /// ``SharedMemoryError/Code/staleHandle`` once freed.
    @inlinable
    public func store(_ value: Value) throws(SharedMemoryError) {
        try block.checkCurrent(kind)
        guard isLocking else { valuePointer.pointee = value; return }
        let mutex = try block.lockBuiltIn(kind)
        defer { _ = mutex.unlock() }
        valuePointer.pointee = value
    }

    /// Runs `body` on the value holding its lock, so a read-modify-write is exact against
    /// every other process: Python's `with v.get_lock(): v.value += 1`. The closure is
    /// synchronous (a pthread mutex belongs to a thread: no `await` inside).
    ///
    /// Throws ``SharedMemoryError/Code/noLock`` for a value made with `locking: false`,
    /// ``SharedMemoryError/Code/staleHandle`` once freed, and whatever `body` throws (the lock
    /// is released). If a process died holding the lock, the value is as it left it.
    @inlinable
    public func withLock<R>(_ body: (inout Value) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        guard isLocking else {
            throw SharedMemoryError(.noLock, "\(kind) at offset \(block.handle.offset) was made with locking: false")
        }
        let mutex = try block.lockBuiltIn(kind)
        defer { _ = mutex.unlock() }
        return try body(&valuePointer.pointee)
    }

    /// Runs `body` with a pointer to the value in shared memory, without locking: for values
    /// made with `locking: false`, or code that synchronizes otherwise. The pointer is valid
    /// only inside `body` (and until the value is freed).
    @inlinable
    public func withUnsafeMutablePointer<R>(_ body: (UnsafeMutablePointer<Value>) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        return try body(valuePointer)
    }

    /// Gives the memory back to the arena. Every copy of this handle, in every process, is
    /// stale from now on (its accesses throw ``SharedMemoryError/Code/staleHandle``); freeing
    /// twice throws that too.
    public func free() throws(SharedMemoryError) {
        try block.free(kind)
    }

    public var description: String {
        "\(kind)(offset \(block.handle.offset), generation \(block.handle.generation)\(isLocking ? "" : ", raw"))"
    }

    /// Encodes the handle (not the value): `{"handle", "type", "locking"}`.
    public func encode(to encoder: any Encoder) throws {
        try block.encode(to: encoder, type: Value.self, count: nil, locking: isLocking)
    }

    /// Attaches to the value an encoded handle names, in this process's arena. Throws a
    /// ``SharedMemoryError``: ``SharedMemoryError/Code/typeMismatch`` for a handle of another
    /// `Value` type, ``SharedMemoryError/Code/sizeMismatch`` for one of another size or
    /// locking, ``SharedMemoryError/Code/staleHandle`` for a freed one,
    /// ``SharedMemoryError/Code/arenaUnavailable`` without an arena.
    public init(from decoder: any Decoder) throws {
        let kind = "SharedValue<\(String(reflecting: Value.self))>"
        let fields = try SharedBlock.decodeFields(from: decoder, type: Value.self, kind: kind)
        isLocking = fields.locking ?? true
        block = try SharedBlock.attach(fields.handle, byteCount: Self.byteCount(locking: isLocking), kind: Self.self)
    }
}
