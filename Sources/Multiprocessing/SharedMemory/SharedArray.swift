/// A fixed-size array in shared memory that every process of the tree reads and writes:
/// Python's `multiprocessing.Array` (with `locking: true`, the default) and `RawArray`
/// (`locking: false`).
///
/// Elements are any trivially copyable type (`BitwiseCopyable`), stored contiguously. A
/// `SharedArray` is a handle: `Codable`, so it can be passed at spawn or inside any message;
/// every copy, in every process, is the same memory.
///
/// With a lock, ``load(at:)``, ``store(_:at:)``, ``toArray()`` and ``withLock(_:)`` take the
/// array's built-in robust mutex (Python's synchronized array does the same for each item).
/// ``withUnsafeMutableBufferPointer(_:)`` never locks: it is the fast path for bulk work
/// (filling, summing) on a raw array or under your own synchronization.
///
/// Memory lives until ``free()`` or the end of the process tree (see ``SharedValue``).
///
/// ```swift
/// let samples = try SharedArray<Double>(repeating: 0, count: 1_000_000, locking: false)
/// try await ChildProcess.run(fill, samples)       // the child writes every element
/// let sum = try samples.withUnsafeMutableBufferPointer { $0.reduce(0, +) }
/// ```
public struct SharedArray<Element: BitwiseCopyable>: Sendable, Hashable, Codable, CustomStringConvertible {
    let block: SharedBlock
    /// The number of elements.
    public let count: Int
    /// Whether the array has a built-in lock.
    public let isLocking: Bool

    private var elements: UnsafeMutablePointer<Element> {
        (block.pointer + (isLocking ? ArenaMutex.slotSize : 0)).assumingMemoryBound(to: Element.self)
    }

    private static func byteCount(count: Int, locking: Bool) throws(SharedMemoryError) -> Int {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard count >= 0, !overflow, bytes <= Int.max - ArenaMutex.slotSize else {
            throw SharedMemoryError(count < 0 ? .invalidArgument : .tooLarge,
                                    "SharedArray<\(String(reflecting: Element.self))>: cannot hold \(count) elements")
        }
        return (locking ? ArenaMutex.slotSize : 0) + bytes
    }

    private var kind: String { "SharedArray<\(String(reflecting: Element.self))>" }

    /// A new array of `count` copies of `value` in the process tree's arena. Throws
    /// ``SharedMemoryError/Code/invalidArgument`` for a negative count,
    /// ``SharedMemoryError/Code/tooLarge`` for one the arena can never hold,
    /// ``SharedMemoryError/Code/arenaExhausted`` when it is full.
    public init(repeating value: Element, count: Int, locking: Bool = true) throws(SharedMemoryError) {
        // All-zero bits (0, 0.0, false): the arena's zero-filled memory is the array already,
        // so its pages are written once (by the allocator, and only when the block is reused).
        let isZero = withUnsafeBytes(of: value) { $0.allSatisfy { $0 == 0 } }
        block = try SharedBlock.allocate(byteCount: try Self.byteCount(count: count, locking: locking),
                                         alignment: MemoryLayout<Element>.alignment, kind: Self.self, zeroed: isZero || locking)
        self.count = count
        isLocking = locking
        if locking { try block.initializeBuiltInLock(kind) }
        if !isZero { elements.initialize(repeating: value, count: count) }
    }

    /// A new array holding `elements`, in order.
    public init(_ elements: some Collection<Element>, locking: Bool = true) throws(SharedMemoryError) {
        let count = elements.count
        block = try SharedBlock.allocate(byteCount: try Self.byteCount(count: count, locking: locking),
                                         alignment: MemoryLayout<Element>.alignment, kind: Self.self)
        self.count = count
        isLocking = locking
        if locking { try block.initializeBuiltInLock(kind) }
        _ = UnsafeMutableBufferPointer(start: self.elements, count: count).initialize(from: elements)
    }

    private func checkIndex(_ index: Int) throws(SharedMemoryError) {
        guard index >= 0, index < count else {
            throw SharedMemoryError(.indexOutOfRange, "index \(index) is outside \(kind) of \(count) elements at offset \(block.handle.offset)")
        }
    }

    /// The element at `index` (under the lock, if any). Throws
    /// ``SharedMemoryError/Code/indexOutOfRange`` or ``SharedMemoryError/Code/staleHandle``.
    public func load(at index: Int) throws(SharedMemoryError) -> Element {
        try block.checkCurrent(kind)
        try checkIndex(index)
        guard isLocking else { return elements[index] }
        let mutex = try block.lockBuiltIn(kind)
        defer { _ = mutex.unlock() }
        return elements[index]
    }

    /// Sets the element at `index` (under the lock, if any). Throws
    /// ``SharedMemoryError/Code/indexOutOfRange`` or ``SharedMemoryError/Code/staleHandle``.
    public func store(_ value: Element, at index: Int) throws(SharedMemoryError) {
        try block.checkCurrent(kind)
        try checkIndex(index)
        guard isLocking else { elements[index] = value; return }
        let mutex = try block.lockBuiltIn(kind)
        defer { _ = mutex.unlock() }
        elements[index] = value
    }

    /// The element at `index`: `try array[3]`. Same checks as ``load(at:)``.
    public subscript(index: Int) -> Element {
        get throws(SharedMemoryError) { try load(at: index) }
    }

    /// A copy of every element (under the lock, if any).
    public func toArray() throws(SharedMemoryError) -> [Element] {
        try block.checkCurrent(kind)
        let buffer = UnsafeMutableBufferPointer(start: elements, count: count)
        guard isLocking else { return Array(buffer) }
        let mutex = try block.lockBuiltIn(kind)
        defer { _ = mutex.unlock() }
        return Array(buffer)
    }

    /// Runs `body` on every element holding the array's lock. Throws
    /// ``SharedMemoryError/Code/noLock`` for an array made with `locking: false`, and
    /// whatever `body` throws (the lock is released). Synchronous: no `await` inside.
    public func withLock<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        guard isLocking else {
            throw SharedMemoryError(.noLock, "\(kind) at offset \(block.handle.offset) was made with locking: false")
        }
        let mutex = try block.lockBuiltIn(kind)
        defer { _ = mutex.unlock() }
        return try body(UnsafeMutableBufferPointer(start: elements, count: count))
    }

    /// Runs `body` on the elements in shared memory, without locking. The buffer is valid only
    /// inside `body` (and until the array is freed).
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        return try body(UnsafeMutableBufferPointer(start: elements, count: count))
    }

    /// Gives the memory back to the arena; every copy of this handle is stale from now on.
    public func free() throws(SharedMemoryError) {
        try block.free(kind)
    }

    public var description: String {
        "\(kind)(\(count) elements, offset \(block.handle.offset), generation \(block.handle.generation)\(isLocking ? "" : ", raw"))"
    }

    /// Encodes the handle (not the elements): `{"handle", "type", "count", "locking"}`.
    public func encode(to encoder: any Encoder) throws {
        try block.encode(to: encoder, type: Element.self, count: count, locking: isLocking)
    }

    /// Attaches to the array an encoded handle names. Throws a ``SharedMemoryError``:
    /// ``SharedMemoryError/Code/typeMismatch`` for another element type,
    /// ``SharedMemoryError/Code/sizeMismatch`` for another count or locking,
    /// ``SharedMemoryError/Code/staleHandle`` for a freed one.
    public init(from decoder: any Decoder) throws {
        let kind = "SharedArray<\(String(reflecting: Element.self))>"
        let fields = try SharedBlock.decodeFields(from: decoder, type: Element.self, kind: kind)
        guard let count = fields.count else {
            throw SharedMemoryError(.invalidArgument, "\(kind): the encoded handle has no count")
        }
        self.count = count
        isLocking = fields.locking ?? true
        let byteCount = try Self.byteCount(count: count, locking: isLocking)
        block = try SharedBlock.attach(fields.handle, byteCount: byteCount, kind: Self.self)
        // A process given an array mostly uses all of it: map its pages now, in one call,
        // rather than one write fault per page. Not for huge arrays, which may be sparse.
        if byteCount >= Self.prefaultRange.lowerBound, byteCount <= Self.prefaultRange.upperBound {
            _ = MemoryAdvice._populateWritable(block.pointer, byteCount: byteCount)
        }
    }

    /// The array sizes (bytes) whose pages a receiving process maps at once.
    static var prefaultRange: ClosedRange<Int> { (64 << 10)...(64 << 20) }
}
