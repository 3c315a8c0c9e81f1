import Synchronization

/// An integer in shared memory updated atomically by every process of the tree, without a
/// lock: the Synchronization module's `Atomic` placed in the arena.
///
/// Every operation is sequentially consistent (on x86-64 and arm64 an atomic add costs the
/// same whatever the ordering). `add` and `subtract` wrap around on overflow. A
/// `SharedAtomic` is a handle: `Codable`, passed at spawn or inside any message; every copy
/// is the same integer. The memory is freed with the last handle in every process (see
/// ``SharedValue``), or by ``free()``; after `free`, every operation through any copy throws
/// ``SharedMemoryError/Code/staleHandle``.
///
/// ```swift
/// let hits = try SharedAtomic<Int>(0)
/// let child = try await ChildProcess.start(worker, hits)   // the child calls try hits.add(1)
/// try hits.add(1)
/// if try hits.compareExchange(expected: 2, desired: 0).exchanged { print("reset") }
/// ```
public struct SharedAtomic<Value: SharedAtomicInteger>: Sendable, Hashable, Codable, CustomStringConvertible {
    @usableFromInline let block: SharedBlock

    @inlinable var atomic: UnsafeMutablePointer<Atomic<Value>> {
        block.pointer.assumingMemoryBound(to: Atomic<Value>.self)
    }

    private static var byteCount: Int { MemoryLayout<Atomic<Value>>.size }
    @usableFromInline var kind: String { "SharedAtomic<\(String(reflecting: Value.self))>" }

    /// A new atomic integer in `arena`, set to `initial`. Throws
    /// ``SharedMemoryError/Code/arenaExhausted`` when it is full. (`SharedAtomic(_:)`, in
    /// Runtime/, uses the default runtime's arena.)
    init(_ initial: Value, in arena: Arena) throws(SharedMemoryError) {
        block = try SharedBlock.allocate(byteCount: Self.byteCount, alignment: MemoryLayout<Atomic<Value>>.alignment, kind: Self.self, in: arena)
        block.pointer.bindMemory(to: Atomic<Value>.self, capacity: 1).initialize(to: Atomic(initial))
    }

    /// The current value.
    @inlinable
    public func load() throws(SharedMemoryError) -> Value {
        try block.checkCurrent(kind)
        return Value.sharedAtomicLoad(atomic.pointee)
    }

    /// Sets the value.
    @inlinable
    public func store(_ value: Value) throws(SharedMemoryError) {
        try block.checkCurrent(kind)
        Value.sharedAtomicStore(atomic.pointee, value)
    }

    /// Adds `operand` (wrapping on overflow) and returns the new value.
    @inlinable @discardableResult
    public func add(_ operand: Value) throws(SharedMemoryError) -> Value {
        try block.checkCurrent(kind)
        return Value.sharedAtomicWrappingAdd(atomic.pointee, operand) &+ operand
    }

    /// Subtracts `operand` (wrapping on overflow) and returns the new value.
    @inlinable @discardableResult
    public func subtract(_ operand: Value) throws(SharedMemoryError) -> Value {
        try block.checkCurrent(kind)
        let negated = 0 &- operand
        return Value.sharedAtomicWrappingAdd(atomic.pointee, negated) &+ negated
    }

    /// Sets the value to `desired` and returns the one it replaced.
    @inlinable
    public func exchange(_ desired: Value) throws(SharedMemoryError) -> Value {
        try block.checkCurrent(kind)
        return Value.sharedAtomicExchange(atomic.pointee, desired)
    }

    /// Sets the value to `desired` if it is `expected`. Returns whether it did, and the value
    /// it found (`expected` when it exchanged).
    @inlinable
    public func compareExchange(expected: Value, desired: Value) throws(SharedMemoryError) -> (exchanged: Bool, original: Value) {
        try block.checkCurrent(kind)
        return Value.sharedAtomicCompareExchange(atomic.pointee, expected, desired)
    }

    /// Gives the memory back to the arena; every copy of this handle is stale from now on.
    public func free() throws(SharedMemoryError) {
        try block.free(kind)
    }

    public var description: String {
        "\(kind)(offset \(block.handle.offset), generation \(block.handle.generation))"
    }

    /// Encodes the handle (not the value): `{"handle", "type"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: SharedBlock.CodingKeys.self)
        try block.encode(into: &container, type: Value.self, count: nil)
    }

    /// Attaches to the atomic an encoded handle names. Throws a ``SharedMemoryError``:
    /// ``SharedMemoryError/Code/typeMismatch`` for another integer type,
    /// ``SharedMemoryError/Code/staleHandle`` for a freed one. The arena is the one of the
    /// runtime the decoder's `userInfo` names (`Runtime.userInfoKey`), else the default one.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: SharedBlock.CodingKeys.self)
        let fields = try SharedBlock.decodeFields(from: container, type: Value.self, kind: "SharedAtomic<\(String(reflecting: Value.self))>")
        block = try SharedBlock.attach(fields.handle, byteCount: Self.byteCount, kind: Self.self, in: ArenaSources.forDecoding(decoder))
    }
}

/// The integer types a ``SharedAtomic`` holds: `Int`, `UInt`, and the 8-, 16-, 32- and
/// 64-bit signed and unsigned integers.
///
/// ```swift
/// let flags = try SharedAtomic<UInt32>(0)
/// ```
public protocol SharedAtomicInteger: AtomicRepresentable, FixedWidthInteger, BitwiseCopyable, Sendable {
    // Implementation details of ``SharedAtomic``: the Synchronization module defines its
    // operations per integer type (per storage size), not generically, so each type forwards.

    /// `atomic.wrappingAdd(operand)`, sequentially consistent; returns the old value.
    static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<Self>, _ operand: Self) -> Self
    /// `atomic.load()`, sequentially consistent.
    static func sharedAtomicLoad(_ atomic: borrowing Atomic<Self>) -> Self
    /// `atomic.store(value)`, sequentially consistent.
    static func sharedAtomicStore(_ atomic: borrowing Atomic<Self>, _ value: Self)
    /// `atomic.exchange(desired)`, sequentially consistent; returns the old value.
    static func sharedAtomicExchange(_ atomic: borrowing Atomic<Self>, _ desired: Self) -> Self
    /// `atomic.compareExchange(expected:desired:)`, sequentially consistent.
    static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<Self>, _ expected: Self, _ desired: Self) -> (exchanged: Bool, original: Self)
}

extension Int: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<Int>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<Int>, _ operand: Int) -> Int {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<Int>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<Int>) -> Int { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<Int>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<Int>, _ value: Int) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<Int>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<Int>, _ desired: Int) -> Int {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<Int>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<Int>, _ expected: Int, _ desired: Int) -> (exchanged: Bool, original: Int) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension UInt: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<UInt>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<UInt>, _ operand: UInt) -> UInt {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<UInt>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<UInt>) -> UInt { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<UInt>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<UInt>, _ value: UInt) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<UInt>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<UInt>, _ desired: UInt) -> UInt {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<UInt>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<UInt>, _ expected: UInt, _ desired: UInt) -> (exchanged: Bool, original: UInt) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension Int64: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<Int64>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<Int64>, _ operand: Int64) -> Int64 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<Int64>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<Int64>) -> Int64 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<Int64>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<Int64>, _ value: Int64) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<Int64>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<Int64>, _ desired: Int64) -> Int64 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<Int64>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<Int64>, _ expected: Int64, _ desired: Int64) -> (exchanged: Bool, original: Int64) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension UInt64: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<UInt64>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<UInt64>, _ operand: UInt64) -> UInt64 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<UInt64>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<UInt64>) -> UInt64 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<UInt64>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<UInt64>, _ value: UInt64) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<UInt64>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<UInt64>, _ desired: UInt64) -> UInt64 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<UInt64>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<UInt64>, _ expected: UInt64, _ desired: UInt64) -> (exchanged: Bool, original: UInt64) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension Int32: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<Int32>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<Int32>, _ operand: Int32) -> Int32 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<Int32>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<Int32>) -> Int32 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<Int32>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<Int32>, _ value: Int32) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<Int32>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<Int32>, _ desired: Int32) -> Int32 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<Int32>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<Int32>, _ expected: Int32, _ desired: Int32) -> (exchanged: Bool, original: Int32) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension UInt32: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<UInt32>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<UInt32>, _ operand: UInt32) -> UInt32 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<UInt32>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<UInt32>) -> UInt32 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<UInt32>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<UInt32>, _ value: UInt32) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<UInt32>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<UInt32>, _ desired: UInt32) -> UInt32 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<UInt32>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<UInt32>, _ expected: UInt32, _ desired: UInt32) -> (exchanged: Bool, original: UInt32) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension Int16: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<Int16>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<Int16>, _ operand: Int16) -> Int16 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<Int16>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<Int16>) -> Int16 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<Int16>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<Int16>, _ value: Int16) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<Int16>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<Int16>, _ desired: Int16) -> Int16 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<Int16>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<Int16>, _ expected: Int16, _ desired: Int16) -> (exchanged: Bool, original: Int16) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension UInt16: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<UInt16>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<UInt16>, _ operand: UInt16) -> UInt16 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<UInt16>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<UInt16>) -> UInt16 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<UInt16>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<UInt16>, _ value: UInt16) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<UInt16>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<UInt16>, _ desired: UInt16) -> UInt16 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<UInt16>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<UInt16>, _ expected: UInt16, _ desired: UInt16) -> (exchanged: Bool, original: UInt16) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension Int8: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<Int8>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<Int8>, _ operand: Int8) -> Int8 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<Int8>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<Int8>) -> Int8 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<Int8>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<Int8>, _ value: Int8) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<Int8>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<Int8>, _ desired: Int8) -> Int8 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<Int8>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<Int8>, _ expected: Int8, _ desired: Int8) -> (exchanged: Bool, original: Int8) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}

extension UInt8: SharedAtomicInteger {
    /// `wrappingAdd` on an `Atomic<UInt8>`; see ``SharedAtomicInteger``.
    public static func sharedAtomicWrappingAdd(_ atomic: borrowing Atomic<UInt8>, _ operand: UInt8) -> UInt8 {
        atomic.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    }
    /// `load` on an `Atomic<UInt8>`.
    public static func sharedAtomicLoad(_ atomic: borrowing Atomic<UInt8>) -> UInt8 { atomic.load(ordering: .sequentiallyConsistent) }
    /// `store` on an `Atomic<UInt8>`.
    public static func sharedAtomicStore(_ atomic: borrowing Atomic<UInt8>, _ value: UInt8) { atomic.store(value, ordering: .sequentiallyConsistent) }
    /// `exchange` on an `Atomic<UInt8>`.
    public static func sharedAtomicExchange(_ atomic: borrowing Atomic<UInt8>, _ desired: UInt8) -> UInt8 {
        atomic.exchange(desired, ordering: .sequentiallyConsistent)
    }
    /// `compareExchange` on an `Atomic<UInt8>`.
    public static func sharedAtomicCompareExchange(_ atomic: borrowing Atomic<UInt8>, _ expected: UInt8, _ desired: UInt8) -> (exchanged: Bool, original: UInt8) {
        atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }
}
