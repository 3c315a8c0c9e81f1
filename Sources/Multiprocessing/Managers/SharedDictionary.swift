import MessagePack

/// A dictionary that lives in a manager, shared by every process that holds a proxy of it
/// (Python's `Manager().dict()`). Each method is one round trip to the manager and runs there
/// atomically, so the read-modify-writes (``increment(_:by:)``, ``compareAndSet(_:expected:to:)``,
/// ``append(_:_:)``, ``merge(_:onConflict:)``, ``update(_:with:)``) lose no update however
/// many processes call them at once. Keys keep their insertion order.
///
/// ```swift
/// let hits = try await manager.dictionary(String.self, Int.self)
/// try await hits.set("home", 0)
/// let now = try await hits.increment("home", by: 1)        // 1, whoever else increments
/// for try await (page, count) in hits { print(page, count) } // a snapshot
/// ```
///
/// A key or value of another type than the proxy's (another process stored a `String` where
/// this one reads `Int`) is ``ManagerError/Code/wrongType`` naming the key and both types.
public struct SharedDictionary<Key: Codable & Hashable & Sendable, Value: Codable & Sendable>: ManagerProxy, AsyncSequence {
    public static var typeID: String { ManagerTypes.dictionary }
    public let reference: ManagedReference

    public init(reference: ManagedReference) { self.reference = reference }

    private func key(_ key: Key) throws(ManagerError) -> [UInt8] { try encode(key, "the key \(key)") }
    private func value(_ value: Value) throws(ManagerError) -> [UInt8] { try encode(value, "the value") }

    /// The value of `key`, or nil when there is none (Python's `d.get(k)`).
    public func get(_ key: Key) async throws(ManagerError) -> Value? {
        try await invoke("get", [self.key(key)], as: [Value].self).first
    }

    /// The value of `key`, or nil: `try await hits["home"]`.
    public subscript(key: Key) -> Value? {
        get async throws(ManagerError) { try await get(key) }
    }

    /// The value of `key`; ``ManagerError/Code/unknownKey`` naming it when there is none
    /// (Python's `d[k]`).
    public func value(forKey key: Key) async throws(ManagerError) -> Value {
        try await invoke("getItem", [self.key(key)], as: Value.self)
    }

    /// Sets `key` to `value`.
    public func set(_ key: Key, _ value: Value) async throws(ManagerError) {
        try await invoke("set", [self.key(key), self.value(value)])
    }

    /// Removes `key`; its value, or nil when there was none.
    @discardableResult
    public func remove(_ key: Key) async throws(ManagerError) -> Value? {
        try await invoke("remove", [self.key(key)], as: [Value].self).first
    }

    /// Removes `key` and answers its value; ``ManagerError/Code/unknownKey`` when there is none
    /// (Python's `d.pop(k)`).
    public func pop(_ key: Key) async throws(ManagerError) -> Value {
        try await invoke("pop", [self.key(key)], as: Value.self)
    }

    /// Removes `key` and answers its value, or `default` when there is none.
    public func pop(_ key: Key, default defaultValue: Value) async throws(ManagerError) -> Value {
        try await invoke("pop", [self.key(key), self.value(defaultValue)], as: Value.self)
    }

    /// Whether `key` has a value.
    public func contains(_ key: Key) async throws(ManagerError) -> Bool {
        try await invoke("contains", [self.key(key)], as: Bool.self)
    }

    /// How many keys it has.
    public func count() async throws(ManagerError) -> Int { try await invoke("count", as: Int.self) }

    /// Its keys, in insertion order.
    public func keys() async throws(ManagerError) -> [Key] { try await invoke("keys", as: [Key].self) }

    /// Its values, in the keys' order.
    public func values() async throws(ManagerError) -> [Value] { try await invoke("values", as: [Value].self) }

    /// Its entries, in insertion order: one consistent snapshot.
    public func items() async throws(ManagerError) -> [(key: Key, value: Value)] {
        try await invoke("items", as: [Pair<Key, Value>].self).map { ($0.first, $0.second) }
    }

    /// Sets every key of `other` (Python's `d.update(other)`), atomically.
    public func update(from other: [Key: Value]) async throws(ManagerError) {
        try await invoke("update", [encode(other.map { Pair(first: $0.key, second: $0.value) }, "the entries")])
    }

    /// The value of `key`; if it has none, sets it to `value` first (Python's `setdefault`).
    @discardableResult
    public func setDefault(_ key: Key, _ value: Value) async throws(ManagerError) -> Value {
        try await invoke("setDefault", [self.key(key), self.value(value)], as: Value.self)
    }

    /// Removes every key.
    public func clear() async throws(ManagerError) { try await invoke("clear") }

    /// Sets `key` to `new` if its value is `expected` (nil: if it has none), atomically;
    /// whether it did.
    @discardableResult
    public func compareAndSet(_ key: Key, expected: Value?, to new: Value) async throws(ManagerError) -> Bool {
        let expectation = try encode(expected.map { [$0] } ?? [], "the expected value")
        return try await invoke("compareAndSet", [self.key(key), expectation, value(new)], as: Bool.self)
    }

    /// Runs `function` (registered with the manager) on the value of `key` inside the
    /// manager and stores what it returns, atomically; the new value.
    @discardableResult
    public func update(_ key: Key, with function: ManagerFunction<Value>) async throws(ManagerError) -> Value {
        try await invoke("apply", [self.key(key), encode(function.name, "the function's name")], as: Value.self)
    }

    /// What happens to a key that both sides of a ``merge(_:onConflict:)`` have.
    public enum MergeConflict: String, Sendable {
        /// The merged value wins (Swift's `merge { $1 }`, Python's `update`).
        case replace
        /// The value already there stays.
        case keep
        /// The two are added (numbers only; any other value is ``ManagerError/Code/wrongType``).
        case sum
    }

    /// Merges `other` in, atomically: keys it alone has are set, keys both have are resolved by
    /// `onConflict`. A merge that fails (a sum of a string) changes nothing.
    public func merge(_ other: [Key: Value], onConflict: MergeConflict = .replace) async throws(ManagerError) {
        try await invoke("merge", [encode(other.map { Pair(first: $0.key, second: $0.value) }, "the entries"),
                                   encode(onConflict.rawValue, "the policy")])
    }

    /// Iterates a snapshot of the entries, taken in one round trip when the loop starts.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let dictionary: SharedDictionary
        var snapshot: IndexingIterator<[(key: Key, value: Value)]>?

        /// The next entry of the snapshot (the first call takes it).
        nonisolated(nonsending) public mutating func next() async throws(ManagerError) -> (key: Key, value: Value)? {
            if snapshot == nil { snapshot = try await dictionary.items().makeIterator() }
            return snapshot?.next()
        }
    }

    /// An iterator over a snapshot of the entries.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(dictionary: self) }
}

extension SharedDictionary where Value: AdditiveArithmetic {
    /// Adds `delta` to the value of `key` (0 when it has none), atomically: the new value.
    /// Two processes doing 100,000 increments each leave exactly 200,000.
    @discardableResult
    public func increment(_ key: Key, by delta: Value) async throws(ManagerError) -> Value {
        try await invoke("increment", [self.key(key), value(delta)], as: Value.self)
    }
}

extension SharedDictionary {
    /// Appends `element` to the list that is the value of `key` (a new list when it has none),
    /// atomically: the list's new count.
    @discardableResult
    public func append<Element: Codable>(_ key: Key, _ element: Element) async throws(ManagerError) -> Int where Value == [Element] {
        try await invoke("append", [self.key(key), encode(element, "the element")], as: Int.self)
    }
}

/// Two values that travel as a two-element array (a dictionary's entry).
struct Pair<First: Codable, Second: Codable>: Codable {
    var first: First
    var second: Second

    init(first: First, second: Second) {
        self.first = first
        self.second = second
    }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        first = try container.decode(First.self)
        second = try container.decode(Second.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(first)
        try container.encode(second)
    }
}
