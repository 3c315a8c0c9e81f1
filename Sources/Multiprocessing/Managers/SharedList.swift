import MessagePack

/// A list that lives in a manager, shared by every process that holds a proxy of it (Python's
/// `Manager().list()`). Each method is one atomic round trip; indices may be negative (from the
/// end), as Python's.
///
/// ```swift
/// let results = try await manager.list(Int.self)
/// try await results.append(42)                 // from any process
/// let firstTen = try await results.elements(0..<10)
/// ```
public struct SharedList<Element: Codable & Sendable>: ManagerProxy {
    public static var typeID: String { ManagerTypes.list }
    public let reference: ManagedReference

    public init(reference: ManagedReference) { self.reference = reference }

    private func element(_ element: Element) throws(ManagerError) -> [UInt8] { try encode(element, "the element") }
    private func index(_ index: Int) throws(ManagerError) -> [UInt8] { try encode(index, "the index") }

    /// Appends `element`; the new count.
    @discardableResult
    public func append(_ element: Element) async throws(ManagerError) -> Int {
        try await invoke("append", [self.element(element)], as: Int.self)
    }

    /// Appends `elements`, atomically; the new count.
    @discardableResult
    public func extend(_ elements: [Element]) async throws(ManagerError) -> Int {
        try await invoke("extend", [encode(elements, "the elements")], as: Int.self)
    }

    /// Inserts `element` before `index` (past the end appends, as Python's); the new count.
    @discardableResult
    public func insert(_ element: Element, at index: Int) async throws(ManagerError) -> Int {
        try await invoke("insert", [self.index(index), self.element(element)], as: Int.self)
    }

    /// Removes the first element equal to `element`; ``ManagerError/Code/unknownKey`` when none is.
    public func remove(_ element: Element) async throws(ManagerError) {
        try await invoke("remove", [self.element(element)])
    }

    /// Removes and answers the element at `index` (the last when nil);
    /// ``ManagerError/Code/indexOutOfRange`` for an empty list or an index outside it.
    @discardableResult
    public func pop(at index: Int? = nil) async throws(ManagerError) -> Element {
        try await invoke("pop", [encode(index, "the index")], as: Element.self)
    }

    /// The element at `index`: `try await list[3]`.
    public subscript(index: Int) -> Element {
        get async throws(ManagerError) { try await invoke("get", [self.index(index)], as: Element.self) }
    }

    /// Sets the element at `index`; ``ManagerError/Code/indexOutOfRange`` outside the list.
    public func set(_ index: Int, _ element: Element) async throws(ManagerError) {
        try await invoke("set", [self.index(index), self.element(element)])
    }

    /// How many elements it has.
    public func count() async throws(ManagerError) -> Int { try await invoke("count", as: Int.self) }

    /// The first index of `element`; ``ManagerError/Code/unknownKey`` when it is not there.
    public func firstIndex(of element: Element) async throws(ManagerError) -> Int {
        try await invoke("index", [self.element(element)], as: Int.self)
    }

    /// A snapshot of the elements in `range` (clamped to the list, as a Python slice).
    public func elements(_ range: Range<Int>) async throws(ManagerError) -> [Element] {
        try await invoke("slice", [index(range.lowerBound), index(range.upperBound)], as: [Element].self)
    }

    /// A snapshot of every element.
    public func snapshot() async throws(ManagerError) -> [Element] {
        try await invoke("slice", [encode(Int?.none, "start"), encode(Int?.none, "end")], as: [Element].self)
    }

    /// Removes every element.
    public func clear() async throws(ManagerError) { try await invoke("clear") }
}
