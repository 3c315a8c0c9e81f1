import FoundationEssentials

/// A fixed-length list of `Int`, `Double`, `Bool`, `String`, bytes and nil in one named
/// shared memory segment: Python's `multiprocessing.shared_memory.ShareableList`, byte for
/// byte, so a Python process attaches `ShareableList(name=...)` to a list made here, and this
/// type attaches to one a Python process made.
///
/// Its length never changes; each element can be set to a value of any of the six kinds, but
/// a string or bytes must fit the slot the element got at creation (8 bytes, or a string's
/// UTF-8 length rounded up past the next multiple of 8). Python strips trailing NUL bytes from
/// strings and bytes when it reads them, and so does this type. There is no lock, as in Python:
/// guard elements that several processes write with a ``Lock``.
///
/// The list is a ``SharedMemory`` segment (``segment``, Python's `shm`), tracked and unlinked
/// like one: ``close()`` it in each process, ``unlink()`` it once (or leave that to the
/// tracker at the program's end, or make it with a ``SharedMemoryManager``). It is `Codable`
/// as its segment: sent to a child, it attaches there.
///
/// ```swift
/// let list = try ShareableList([42, 2.5, true, "hello", .bytes([1, 2]), nil])
/// try list.set(0, to: 43)
/// let first = try list[0]                                    // .int(43)
/// print(list.name, try list.format)                          // mp_1f3a9c2e qdxxxxxxx?8s8sxxxxxx?x
/// let view = try ShareableList(attaching: list.name)         // in any process, Python's too
/// view.close(); list.close(); try list.unlink()
/// ```
public final class ShareableList: Sendable, Codable, CustomStringConvertible {
    /// One element: Python's `int` (64 bits), `float`, `bool`, `str`, `bytes` or `None`.
    /// Write one as a literal where an `Element` is expected: `42`, `2.5`, `true`, `"text"`,
    /// `nil`; bytes as `.bytes([1, 2])`.
    ///
    /// Equality is exact, unlike Python's, where `1 == 1.0 == True`:
    /// ```swift
    /// let values: [ShareableList.Element] = [1, 1.0, true, "x", nil]
    /// assert(values[0] != values[1])
    /// ```
    public enum Element: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
        ExpressibleByBooleanLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral {
        /// An integer (Python `int`, format `q`).
        case int(Int)
        /// A floating-point number (Python `float`, format `d`).
        case double(Double)
        /// A Boolean (Python `bool`, format `xxxxxxx?`).
        case bool(Bool)
        /// A string, stored as UTF-8 (Python `str`, format `Ns`).
        case string(String)
        /// Bytes (Python `bytes`, format `Ns`).
        case bytes([UInt8])
        /// Nothing (Python `None`, format `xxxxxx?x`).
        case `nil`

        /// The integer `value`.
        public init(integerLiteral value: Int) { self = .int(value) }
        /// The number `value`.
        public init(floatLiteral value: Double) { self = .double(value) }
        /// The Boolean `value`.
        public init(booleanLiteral value: Bool) { self = .bool(value) }
        /// The string `value`.
        public init(stringLiteral value: String) { self = .string(value) }
        /// ``nil``.
        public init(nilLiteral: ()) { self = .nil }

        /// `value` as an element, for values typed `Any` (what a Python list holds): any
        /// integer type that fits 64 bits, `Double`, `Float`, `Bool`, `String`, `Substring`,
        /// `[UInt8]`, `Data`, an `Element`, or nil. Throws
        /// ``SharedMemoryError/Code/unsupportedType`` naming any other type, and
        /// ``SharedMemoryError/Code/valueTooLarge`` for an unsigned integer above `Int.max`.
        ///
        /// ```swift
        /// let row: [Any] = [7, Float(0.5), "id"]
        /// let elements = try row.map { try ShareableList.Element(converting: $0) }
        /// ```
        public init(converting value: Any) throws(SharedMemoryError) {
            switch value {
            case let element as Element: self = element
            case let int as any BinaryInteger:
                guard let fitted = Int(exactly: int) else {
                    throw SharedMemoryError(.valueTooLarge, "\(int) (\(type(of: int))) does not fit the 64-bit integer of a ShareableList")
                }
                self = .int(fitted)
            case let double as Double: self = .double(double)
            case let float as Float: self = .double(Double(float))
            case let bool as Bool: self = .bool(bool)
            case let string as String: self = .string(string)
            case let substring as Substring: self = .string(String(substring))
            case let bytes as [UInt8]: self = .bytes(bytes)
            case let data as Data: self = .bytes(Array(data))
            default:
                if Self.isNil(value) { self = .nil; return }
                throw SharedMemoryError(.unsupportedType, "a ShareableList holds Int, Double, Bool, String, [UInt8] and nil, "
                                        + "not \(type(of: value)) (\(value))")
            }
        }

        /// Whether `value` is an optional holding nothing.
        private static func isNil(_ value: Any) -> Bool {
            let mirror = Mirror(reflecting: value)
            return mirror.displayStyle == .optional && mirror.children.isEmpty
        }

        /// `string` quoted and escaped as Python's `repr` does it.
        private static func pythonRepr(_ string: String) -> String {
            let quote: Character = string.contains("'") && !string.contains("\"") ? "\"" : "'"
            var repr = String(quote)
            for character in string {
                switch character {
                case "\\": repr += "\\\\"
                case "\n": repr += "\\n"
                case "\t": repr += "\\t"
                case "\r": repr += "\\r"
                case quote: repr += "\\" + String(quote)
                default: repr.append(character)
                }
            }
            repr.append(quote)
            return repr
        }

        /// `bytes` as Python's `repr` writes them: printable ASCII as is, the rest as `\xNN`.
        private static func pythonRepr(_ bytes: [UInt8]) -> String {
            let quote: UInt8 = bytes.contains(0x27) && !bytes.contains(0x22) ? 0x22 : 0x27
            var repr = "b" + String(UnicodeScalar(quote))
            for byte in bytes {
                switch byte {
                case 0x5c: repr += "\\\\"
                case 0x0a: repr += "\\n"
                case 0x09: repr += "\\t"
                case 0x0d: repr += "\\r"
                case quote: repr += "\\" + String(UnicodeScalar(quote))
                case 0x20..<0x7f: repr.append(Character(UnicodeScalar(byte)))
                default: repr += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
                }
            }
            return repr + String(UnicodeScalar(quote))
        }

        /// A string's UTF-8 or the bytes; nil for the fixed-size kinds.
        var encodedBytes: [UInt8]? {
            switch self {
            case .string(let string): Array(string.utf8)
            case .bytes(let bytes): bytes
            default: nil
            }
        }

        var isString: Bool { if case .string = self { true } else { false } }

        /// "a string", "bytes"...: for messages.
        var kindName: String {
            switch self {
            case .int: "an integer"
            case .double: "a double"
            case .bool: "a Boolean"
            case .string: "a string"
            case .bytes: "bytes"
            case .nil: "nil"
            }
        }

        /// As Python prints it: `42`, `2.5`, `True`, `'text'`, `b'\x01'`, `None`.
        public var description: String {
            switch self {
            case .int(let value): "\(value)"
            case .double(let value): "\(value)"
            case .bool(let value): value ? "True" : "False"
            case .string(let value): Self.pythonRepr(value)
            case .bytes(let value): Self.pythonRepr(value)
            case .nil: "None"
            }
        }
    }

    /// The segment holding the list (Python's `shm`).
    public let segment: SharedMemory
    /// The number of elements (Python's `len`); fixed at creation.
    public var count: Int { layout.count }
    private let layout: ShareableListLayout

    /// The segment's name (Python's `shm.name`): what ``init(attaching:)`` takes.
    public var name: String { segment.name }

    /// Makes the list in a new segment named `name` (a fresh "mp_..." name when nil),
    /// tracked by `tracker` (nil: not tracked). `ShareableList(_:name:track:)`, in Runtime/,
    /// passes the default runtime's arena. Throws as ``SharedMemory`` does, and
    /// ``SharedMemoryError/Code/valueTooLarge`` for a string or bytes beyond the largest slot.
    init(_ elements: [Element], name: String?, tracker: Arena?) throws(SharedMemoryError) {
        let layout = try ShareableListLayout(for: elements)
        let segment = try SharedMemory(size: layout.byteCount, name: name, tracker: tracker)
        do {
            try segment.withMappedBytes { (bytes) throws(SharedMemoryError) in
                layout.writeHeader(into: bytes)
                for (index, element) in elements.enumerated() {
                    try layout.write(element, at: index, into: bytes, list: segment.name)
                }
            }
        } catch {
            segment.close()
            _ = try? segment.unlink()
            throw error
        }
        self.segment = segment
        self.layout = layout
    }

    /// Attaches to the list in `segment`. Throws ``SharedMemoryError/Code/notAShareableList``
    /// when its bytes are not a list's layout.
    init(segment: SharedMemory) throws(SharedMemoryError) {
        self.segment = segment
        layout = try segment.withMappedBytes { (bytes) throws(SharedMemoryError) in
            try ShareableListLayout(reading: UnsafeRawBufferPointer(bytes), segment: segment.name)
        }
    }

    /// Attaches to the list in the segment `name`, made here or by Python (Python's
    /// `ShareableList(name=name)`). Throws ``SharedMemoryError/Code/segmentNotFound`` when
    /// there is none, ``SharedMemoryError/Code/notAShareableList`` when it holds something
    /// else. `ShareableList(attaching:)`, in Runtime/, passes the default runtime's arena.
    convenience init(attaching name: String, tracker: Arena?) throws(SharedMemoryError) {
        try self.init(segment: SharedMemory(attaching: name, tracker: tracker))
    }

    /// The error for an `index` outside the list.
    private func outOfRange(_ index: Int) -> SharedMemoryError {
        SharedMemoryError(.indexOutOfRange, "index \(index) is out of range: the ShareableList \"\(name)\" has \(count) element\(count == 1 ? "" : "s")")
    }

    /// Element `index` (0 ..< ``count``; no negative indices). Throws
    /// ``SharedMemoryError/Code/indexOutOfRange``, ``SharedMemoryError/Code/closed`` after
    /// ``close()``, ``SharedMemoryError/Code/unsupportedType`` for an element stored in a
    /// format Python does not write.
    public func get(_ index: Int) throws(SharedMemoryError) -> Element {
        guard index >= 0, index < count else { throw outOfRange(index) }
        return try segment.withMappedBytes { (bytes) throws(SharedMemoryError) in
            try layout.read(index, in: UnsafeRawBufferPointer(bytes), list: name)
        }
    }

    /// Element `index`: ``get(_:)`` as a subscript. Set with ``set(_:to:)`` (a subscript's
    /// setter cannot throw).
    public subscript(index: Int) -> Element {
        get throws(SharedMemoryError) { try get(index) }
    }

    /// Sets element `index` to `value`, of any kind (Python's `list[index] = value`). Throws
    /// ``SharedMemoryError/Code/valueTooLarge`` when a string or bytes is longer than the slot
    /// (the message names the index and both sizes), ``SharedMemoryError/Code/indexOutOfRange``,
    /// ``SharedMemoryError/Code/closed`` after ``close()``.
    public func set(_ index: Int, to value: Element) throws(SharedMemoryError) {
        guard index >= 0, index < count else { throw outOfRange(index) }
        try segment.withMappedBytes { (bytes) throws(SharedMemoryError) in
            try layout.write(value, at: index, into: bytes, list: name)
        }
    }

    /// Every element, in order (Python's `list(shareable)`).
    public func elements() throws(SharedMemoryError) -> [Element] {
        try segment.withMappedBytes { (bytes) throws(SharedMemoryError) in
            try (0..<count).map { (index) throws(SharedMemoryError) in try layout.read(index, in: UnsafeRawBufferPointer(bytes), list: name) }
        }
    }

    /// How many elements equal `value` (Python's `count(value)`, with exact equality).
    public func count(of value: Element) throws(SharedMemoryError) -> Int {
        try elements().filter { $0 == value }.count
    }

    /// The first index of `value`, or nil (Python's `index(value)`, which raises instead).
    public func index(of value: Element) throws(SharedMemoryError) -> Int? {
        try elements().firstIndex(of: value)
    }

    /// Every element's `struct` format, joined (Python's `format`): "qd8s" for `[1, 2.5, "a"]`.
    public var format: String {
        get throws(SharedMemoryError) {
            try segment.withMappedBytes { bytes in
                (0..<count).map { layout.format(at: $0, in: UnsafeRawBufferPointer(bytes)) }.joined()
            }
        }
    }

    /// Unmaps the list in this process (``SharedMemory/close()``); the segment stays.
    public func close() { segment.close() }

    /// Removes the segment (``SharedMemory/unlink()``), once, from any process.
    public func unlink() throws(SharedMemoryError) { try segment.unlink() }

    /// `ShareableList([1, 'a', None], name='mp_1f3a9c2e')`, as Python prints it.
    public var description: String {
        guard let elements = try? elements() else { return "ShareableList(name='\(name)', closed)" }
        return "ShareableList([\(elements.map(\.description).joined(separator: ", "))], name='\(name)')"
    }

    /// Encodes the segment (its name and size).
    public func encode(to encoder: any Encoder) throws {
        try segment.encode(to: encoder)
    }

    /// Attaches to the list an encoded one names. Throws as ``SharedMemory``'s decoding does,
    /// and ``SharedMemoryError/Code/notAShareableList``.
    public convenience init(from decoder: any Decoder) throws {
        try self.init(segment: SharedMemory(from: decoder))
    }
}
