/// A fixed-size array in shared memory that every process of the tree reads and writes:
/// Python's `multiprocessing.Array` (with a lock, the default) and `RawArray` (`lock: .none`).
///
/// Elements are any trivially copyable type (`BitwiseCopyable`), stored contiguously. A
/// `SharedArray` is a handle: `Codable`, so it can be passed at spawn or inside any message;
/// every copy, in every process, is the same memory.
///
/// With a lock (a new ``RLock`` by default; see ``ValueLock``), ``load(at:)``, ``store(_:at:)``,
/// the slice forms ``load(_:)`` and ``store(contentsOf:at:)``, ``toArray()`` and
/// ``withLock(_:)`` take it (Python's synchronized array does the same for each item and
/// slice); ``lock`` is Python's `get_lock()`. A holder that died makes the lock throw
/// ``SynchronizationError/Code/ownerDied`` until a `lock.withLock(recovering:_:)` repairs.
/// ``withUnsafeMutableBufferPointer(_:)`` never locks: it is the fast path for bulk work
/// (filling, summing) on a raw array or under your own synchronization.
///
/// The memory is freed with the last handle in every process, or by ``free()`` (see
/// ``SharedValue``).
///
/// ```swift
/// let samples = try SharedArray<Double>(repeating: 0, count: 1_000_000, lock: .none)
/// try await ChildProcess.run(fill, samples)       // the child writes every element
/// let sum = try samples.withUnsafeMutableBufferPointer { $0.reduce(0, +) }
/// let head = try samples[0..<10]                     // Python's samples[0:10]
/// try samples.store(contentsOf: [1, 2, 3], at: 10)    // Python's samples[10:13] = [1, 2, 3]
/// ```
public struct SharedArray<Element: BitwiseCopyable>: Sendable, Hashable, Codable, CustomStringConvertible {
    let block: SharedBlock
    /// The number of elements.
    public let count: Int
    /// The lock that ``load(at:)``, ``store(_:at:)``, the slice forms, ``toArray()`` and
    /// ``withLock(_:)`` take (an ``RLock`` unless made otherwise); nil for an array made with
    /// `lock: .none`.
    public let lock: SharedLock?
    /// Whether the array has a lock.
    public var isLocking: Bool { lock != nil }

    private var elements: UnsafeMutablePointer<Element> { block.pointer.assumingMemoryBound(to: Element.self) }

    private static func byteCount(count: Int) throws(SharedMemoryError) -> Int {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard count >= 0, !overflow else {
            throw SharedMemoryError(count < 0 ? .invalidArgument : .tooLarge,
                                    "SharedArray<\(String(reflecting: Element.self))>: cannot hold \(count) elements")
        }
        return bytes
    }

    private var kind: String { "SharedArray<\(String(reflecting: Element.self))>" }

    /// A new array of `count` copies of `value` in `arena`, guarded as `lock` says (a new lock
    /// is made in `arena` too). Throws ``SharedMemoryError/Code/invalidArgument`` for a
    /// negative count, ``SharedMemoryError/Code/tooLarge`` for one the arena can never hold,
    /// ``SharedMemoryError/Code/arenaExhausted`` when it is full. (The public form, in
    /// Runtime/, uses the default runtime's arena.)
    init(repeating value: Element, count: Int, lock: ValueLock = .reentrant, in arena: Arena) throws {
        let lock = try lock.makeLock(in: arena)
        // All-zero bits (0, 0.0, false): the arena's zero-filled memory is the array already,
        // so its pages are written once (by the allocator, and only when the block is reused).
        let isZero = withUnsafeBytes(of: value) { $0.allSatisfy { $0 == 0 } }
        block = try SharedBlock.allocate(byteCount: try Self.byteCount(count: count),
                                         alignment: MemoryLayout<Element>.alignment, kind: Self.self, zeroed: isZero, in: arena)
        self.count = count
        self.lock = lock
        if !isZero { elements.initialize(repeating: value, count: count) }
    }

    /// A new array in `arena` holding `elements`, in order, guarded as `lock` says.
    init(_ elements: some Collection<Element>, lock: ValueLock = .reentrant, in arena: Arena) throws {
        let count = elements.count
        let lock = try lock.makeLock(in: arena)
        block = try SharedBlock.allocate(byteCount: try Self.byteCount(count: count),
                                         alignment: MemoryLayout<Element>.alignment, kind: Self.self, zeroed: false, in: arena)
        self.count = count
        self.lock = lock
        _ = UnsafeMutableBufferPointer(start: self.elements, count: count).initialize(from: elements)
    }

    private func checkIndex(_ index: Int) throws(SharedMemoryError) {
        guard index >= 0, index < count else {
            throw SharedMemoryError(.indexOutOfRange, "index \(index) is outside \(kind) of \(count) elements at offset \(block.handle.offset)")
        }
    }

    /// The element at `index` (under the lock, if any). Throws
    /// ``SharedMemoryError/Code/indexOutOfRange``, ``SharedMemoryError/Code/staleHandle``, and
    /// the lock's ``SynchronizationError``s.
    public func load(at index: Int) throws -> Element {
        try block.checkCurrent(kind)
        try checkIndex(index)
        guard let lock else { return elements[index] }
        return try lock.withLock { elements[index] }
    }

    /// Sets the element at `index` (under the lock, if any). Throws
    /// ``SharedMemoryError/Code/indexOutOfRange`` or ``SharedMemoryError/Code/staleHandle``.
    public func store(_ value: Element, at index: Int) throws {
        try block.checkCurrent(kind)
        try checkIndex(index)
        guard let lock else { elements[index] = value; return }
        try lock.withLock { elements[index] = value }
    }

    /// The element at `index`: `try array[3]`. Same checks as ``load(at:)``.
    public subscript(index: Int) -> Element {
        get throws { try load(at: index) }
    }

    private func checkRange(_ range: Range<Int>) throws(SharedMemoryError) {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw SharedMemoryError(.indexOutOfRange, "the range \(range.lowerBound)..<\(range.upperBound) is outside \(kind) of \(count) elements at offset \(block.handle.offset)")
        }
    }

    /// The elements in `range`, copied under the lock (if any): Python's `array[i:j]`. Throws
    /// ``SharedMemoryError/Code/indexOutOfRange`` (naming the range and the count) for a range
    /// that is not inside `0..<count`, ``SharedMemoryError/Code/staleHandle``, and the lock's
    /// ``SynchronizationError``s.
    public func load(_ range: Range<Int>) throws -> [Element] {
        try block.checkCurrent(kind)
        try checkRange(range)
        let slice = UnsafeMutableBufferPointer(start: elements + range.lowerBound, count: range.count)
        guard let lock else { return Array(slice) }
        return try lock.withLock { Array(slice) }
    }

    /// Python's slice assignment `array[index:index + len(values)] = values`: writes `values`
    /// from `index` on, under the lock (if any). The array keeps its size: throws
    /// ``SharedMemoryError/Code/indexOutOfRange`` (naming the range and the count, nothing
    /// written) when the values do not fit inside `0..<count`.
    public func store(contentsOf values: some Collection<Element>, at index: Int) throws {
        try block.checkCurrent(kind)
        let values = Array(values)
        let (end, overflow) = index.addingReportingOverflow(values.count)
        guard !overflow else {
            throw SharedMemoryError(.indexOutOfRange, "\(values.count) elements from index \(index) are outside \(kind) of \(count) elements")
        }
        try checkRange(index..<max(index, end))
        let write = { values.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            (elements + index).update(from: base, count: source.count)
        } }
        guard let lock else { return write() }
        try lock.withLock(write)
    }

    /// The elements in `range`: `try array[2..<5]`. Same checks as ``load(_:)``.
    public subscript(range: Range<Int>) -> [Element] {
        get throws { try load(range) }
    }

    /// A copy of every element (under the lock, if any).
    public func toArray() throws -> [Element] {
        try block.checkCurrent(kind)
        let buffer = UnsafeMutableBufferPointer(start: elements, count: count)
        guard let lock else { return Array(buffer) }
        return try lock.withLock { Array(buffer) }
    }

    /// Runs `body` on every element holding the array's lock. Throws
    /// ``SharedMemoryError/Code/noLock`` for an array made with `lock: .none`, and
    /// whatever `body` throws (the lock is released). Synchronous: no `await` inside.
    public func withLock<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        guard let lock else {
            throw SharedMemoryError(.noLock, "\(kind) at offset \(block.handle.offset) was made with lock: .none")
        }
        return try lock.withLock { try body(UnsafeMutableBufferPointer(start: elements, count: count)) }
    }

    /// Runs `body` on the elements in shared memory, without locking. The buffer is valid only
    /// inside `body` (and until the array is freed).
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) throws -> R {
        try block.checkCurrent(kind)
        return try body(UnsafeMutableBufferPointer(start: elements, count: count))
    }

    /// Gives the memory back to the arena now, without waiting for the last handle; every copy
    /// of this handle is stale from now on (see ``SharedValue/free()``).
    public func free() throws(SharedMemoryError) {
        try block.free(kind)
    }

    public var description: String {
        "\(kind)(\(count) elements, offset \(block.handle.offset), generation \(block.handle.generation)\(isLocking ? "" : ", raw"))"
    }

    /// Two handles are equal when they name the same memory.
    public static func == (a: SharedArray, b: SharedArray) -> Bool { a.block == b.block }
    public func hash(into hasher: inout Hasher) { hasher.combine(block) }

    /// Encodes the handle (not the elements) and its lock's: `{"handle", "type", "count", "lock"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: SharedBlock.CodingKeys.self)
        try block.encode(into: &container, type: Element.self, count: count)
        try ValueLockCoding.encode(lock, into: &container)
    }

    /// Attaches to the array an encoded handle names. Throws a ``SharedMemoryError``:
    /// ``SharedMemoryError/Code/typeMismatch`` for another element type,
    /// ``SharedMemoryError/Code/sizeMismatch`` for another count,
    /// ``SharedMemoryError/Code/staleHandle`` for a freed one. The arena is the one of the
    /// runtime the decoder's `userInfo` names (`Runtime.userInfoKey`), else the default one.
    public init(from decoder: any Decoder) throws {
        let kind = "SharedArray<\(String(reflecting: Element.self))>"
        let container = try decoder.container(keyedBy: SharedBlock.CodingKeys.self)
        let fields = try SharedBlock.decodeFields(from: container, type: Element.self, kind: kind)
        guard let count = fields.count else {
            throw SharedMemoryError(.invalidArgument, "\(kind): the encoded handle has no count")
        }
        self.count = count
        lock = try ValueLockCoding.decode(from: container)
        let byteCount = try Self.byteCount(count: count)
        block = try SharedBlock.attach(fields.handle, byteCount: byteCount, kind: Self.self, in: ArenaSources.forDecoding(decoder))
        // A process given an array mostly uses all of it: map its pages now, in one call,
        // rather than one write fault per page. Not for huge arrays, which may be sparse.
        if byteCount >= Self.prefaultRange.lowerBound, byteCount <= Self.prefaultRange.upperBound {
            _ = MemoryAdvice._populateWritable(block.pointer, byteCount: byteCount)
        }
    }

    /// The array sizes (bytes) whose pages a receiving process maps at once.
    static var prefaultRange: ClosedRange<Int> { (64 << 10)...(64 << 20) }
}
