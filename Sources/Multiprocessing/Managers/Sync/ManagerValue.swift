import MessagePack

/// A value hosted by a manager (Python's `Manager().Value(typecode, value)`): any `Codable`
/// value, read and written by every process that holds a proxy; ``add(_:)`` is an atomic
/// read-modify-write for numbers (one round trip, no lost update). A write of a value of
/// another kind than the stored one (a string over an integer: a proxy decoded with the wrong
/// `T`) is ``ManagerError/Code/wrongType``. Make one with ``Manager/value(_:name:)``.
///
/// ```swift
/// let done = try await manager.value(0)
/// try await done.add(1)                       // from any process, atomically
/// print(try await done.get())
/// ```
public struct ManagerValue<T: Codable & Sendable>: ManagerProxy, CustomStringConvertible {
    /// `value`.
    public static var typeID: String { "value" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the value `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// The value now.
    public func get() async throws(ManagerError) -> T { try await invoke("get", as: T.self) }

    /// Replaces the value; ``ManagerError/Code/wrongType`` when it is of another kind.
    public func set(_ value: T) async throws(ManagerError) {
        try await invoke("set", [encode(value, "the value")])
    }

    /// The value now (Python's `value.value`).
    public var value: T { get async throws(ManagerError) { try await get() } }

    /// A short description for logs.
    public var description: String { "ManagerValue<\(T.self)>(\(reference.object))" }
}

extension ManagerValue where T: AdditiveArithmetic {
    /// Adds `delta` in the manager, atomically; the new value. Integer overflow is
    /// ``ManagerError/Code/invalidArgument``.
    @discardableResult
    public func add(_ delta: T) async throws(ManagerError) -> T {
        try await invoke("add", [encode(delta, "the delta")], as: T.self)
    }
}

/// An array hosted by a manager (Python's `Manager().Array(typecode, sequence)`): a fixed
/// number of `Codable` elements, each read and written in one round trip; ``add(at:_:)`` is an
/// atomic read-modify-write for numbers. An index outside it is
/// ``ManagerError/Code/indexOutOfRange``; an element of another kind than the one it replaces,
/// ``ManagerError/Code/wrongType``. Make one with ``Manager/array(_:name:)``.
///
/// ```swift
/// let counts = try await manager.array([0, 0, 0])
/// try await counts.add(at: shard, 1)          // from any process, atomically
/// print(try await counts.snapshot())
/// ```
public struct ManagerArray<T: Codable & Sendable>: ManagerProxy, CustomStringConvertible {
    /// `array`.
    public static var typeID: String { "array" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the array `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// The element at `index`: `try await counts[2]`.
    public subscript(index: Int) -> T {
        get async throws(ManagerError) { try await invoke("get", [ManagerArguments.int(index)], as: T.self) }
    }

    /// Sets the element at `index`.
    public func set(_ index: Int, _ element: T) async throws(ManagerError) {
        try await invoke("set", [ManagerArguments.int(index), encode(element, "the element")])
    }

    /// How many elements it has (fixed at creation).
    public func count() async throws(ManagerError) -> Int { try await invoke("count", as: Int.self) }

    /// A snapshot of every element.
    public func snapshot() async throws(ManagerError) -> [T] {
        try await invoke("snapshot", as: [T].self)
    }

    /// A snapshot of the elements in `range` (``ManagerError/Code/indexOutOfRange`` when it is
    /// not within the array).
    public func elements(_ range: Range<Int>) async throws(ManagerError) -> [T] {
        try await invoke("snapshot", [ManagerArguments.int(range.lowerBound), ManagerArguments.int(range.upperBound)], as: [T].self)
    }

    /// A short description for logs.
    public var description: String { "ManagerArray<\(T.self)>(\(reference.object))" }
}

extension ManagerArray where T: AdditiveArithmetic {
    /// Adds `delta` to the element at `index` in the manager, atomically; the new element.
    @discardableResult
    public func add(at index: Int, _ delta: T) async throws(ManagerError) -> T {
        try await invoke("add", [ManagerArguments.int(index), encode(delta, "the delta")], as: T.self)
    }
}
