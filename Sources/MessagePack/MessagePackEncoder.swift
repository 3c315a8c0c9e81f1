import FoundationEssentials

/// Encodes `Encodable` values as MessagePack, writing every byte through msgpack-c.
///
/// Structs become maps with string keys (a Python peer sees a dict); set
/// ``Options-swift.struct/structsAsArrays`` for the compact array form. Integers take the smallest
/// encoding that holds them, `Data` is `bin`, `Date` the timestamp extension (-1), `URL`,
/// `UUID` and `Decimal` their strings, and dictionaries are maps keyed by their own keys'
/// encodings (an `[Int: String]` has integer keys on the wire).
///
/// ```swift
/// struct Reading: Codable { var id: Int; var name: String; var value: Double }
/// let bytes = try MessagePackEncoder().encode(Reading(id: 1, name: "t", value: 0.5))
/// // 83 a2 69 64 01 a4 6e 61 6d 65 a1 74 a5 76 61 6c 75 65 cb 3f e0 00 00 00 00 00 00
/// ```
public struct MessagePackEncoder: Sendable {
    /// How values are laid out.
    public struct Options: Sendable {
        /// Structs (keyed containers) as arrays of their values in encoding order, not maps.
        public var structsAsArrays = false
        public init(structsAsArrays: Bool = false) { self.structsAsArrays = structsAsArrays }
    }

    public var options: Options
    /// Passed to every `encode(to:)` as `encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init(options: Options = Options()) { self.options = options }

    /// The MessagePack bytes of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = _MessagePackEncoder.make(options: options, userInfo: userInfo)
        defer { encoder.recycle() }
        try encoder.encodeValue(value)
        return encoder.buffer.toArray()
    }

    /// The MessagePack bytes of `value` as `Data`.
    public func encodeData<T: Encodable>(_ value: T) throws -> Data {
        let encoder = _MessagePackEncoder.make(options: options, userInfo: userInfo)
        defer { encoder.recycle() }
        try encoder.encodeValue(value)
        return Data(encoder.buffer.bytes)
    }
}

/// The `Encoder` behind ``MessagePackEncoder``: it writes straight into one buffer.
///
/// Containers are open "frames" on a stack; a map or array header is written as a one-byte
/// placeholder and patched (widened if needed) when the frame closes. Writing into a container
/// closes every container opened after it, which is how Codable's synthesized code uses them.
/// A container used again after it was closed is an error, never a silent corruption.
final class _MessagePackEncoder: Encoder {
    struct Frame {
        var header: Int
        var count: Int
        var isMap: Bool
        var id: UInt32
        /// `superEncoder`/nested slot written for this frame whose value is still to come.
        var pendingSlot: Bool
    }

    // Exclusivity checks are off for these hot fields: only this object's own methods touch
    // them, one call at a time (they cost ~5% of an encode otherwise).
    let buffer: PackBuffer
    @exclusivity(unchecked) var options: MessagePackEncoder.Options
    @exclusivity(unchecked) var userInfoStorage: [CodingUserInfoKey: any Sendable]
    @exclusivity(unchecked) var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { userInfoStorage }
    @exclusivity(unchecked) var frames: [Frame] = []
    /// Never reset, so a container kept past its value (or past a recycling) is detected.
    @exclusivity(unchecked) var nextID: UInt32 = 0
    /// `frames.count` when the value now being encoded started.
    @exclusivity(unchecked) var valueLevel = 0

    init(buffer: PackBuffer, options: MessagePackEncoder.Options, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.buffer = buffer
        self.options = options
        self.userInfoStorage = userInfo
        frames.reserveCapacity(8)
    }

    private static let parked = ParkingSlot()
    private static let lastPlainType = LastNonConformingType()

    /// An encoder with an empty buffer: the parked one if free, else a new one.
    static func make(options: MessagePackEncoder.Options, userInfo: [CodingUserInfoKey: any Sendable]) -> _MessagePackEncoder {
        if let encoder = parked.take(_MessagePackEncoder.self) {
            encoder.options = options
            encoder.userInfoStorage = userInfo
            return encoder
        }
        return _MessagePackEncoder(buffer: PackBuffer(capacity: 256), options: options, userInfo: userInfo)
    }

    /// Parks this encoder for the next `make`, unless its buffer grew large.
    func recycle() {
        guard buffer.capacity <= 64 << 10 else { dropCache(); return }
        buffer.reset()
        if !frames.isEmpty { frames.removeAll(keepingCapacity: true) }
        if !codingPath.isEmpty { codingPath.removeAll(keepingCapacity: true) }
        if !userInfoStorage.isEmpty { userInfoStorage = [:] }
        valueLevel = 0
        if !Self.parked.park(self) { dropCache() }
    }

    /// Finds ``MessagePackDirectCodable`` types, remembering the last one.
    @exclusivity(unchecked) var directTypes = DirectTypeCache()

    /// Breaks the encoder -> cached container -> encoder cycle before the encoder is dropped.
    func dropCache() {
        cachedKeyType = nil
        cachedBox = nil
        cachedState = nil
    }

    /// Appends the encoding of `value` to the buffer; on error the buffer is left as it was.
    func append<T: Encodable>(_ value: T) throws {
        let start = buffer.count
        do {
            try encodeValue(value)
        } catch {
            buffer.truncate(to: start)
            frames.removeAll(keepingCapacity: true)
            codingPath.removeAll(keepingCapacity: true)
            valueLevel = 0
            throw error
        }
    }

    // MARK: values

    /// Encodes one value at the current position: primitives and the special types directly,
    /// anything else through its `encode(to:)`.
    func encodeValue<T: Encodable>(_ value: T) throws {
        if try encodeSpecial(value) { return }
        let savedLevel = valueLevel
        let start = buffer.count
        let depth = frames.count
        valueLevel = depth
        defer { valueLevel = savedLevel }
        try value.encode(to: self)
        try close(downTo: depth)
        if buffer.count == start { buffer.packMapHeader(0) }   // encoded nothing: an empty map, as JSONEncoder's {}
    }

    func encodeValue<T: Encodable>(_ value: T, key: some CodingKey) throws {
        codingPath.append(key)
        defer { codingPath.removeLast() }
        try encodeValue(value)
    }

    /// Types with a MessagePack form of their own; true when `value` was one of them.
    /// Metatype comparisons first: they cost a pointer compare, a failed cast costs far more.
    @inline(__always) func encodeSpecial<T: Encodable>(_ value: T) throws -> Bool {
        if T.self == String.self { buffer.packString(unsafeBitCast(value, to: String.self)) }
        else if T.self == Int.self { buffer.packInt(Int64(unsafeBitCast(value, to: Int.self))) }
        else if T.self == Double.self { buffer.packDouble(unsafeBitCast(value, to: Double.self)) }
        else if T.self == Bool.self { buffer.packBool(unsafeBitCast(value, to: Bool.self)) }
        else if T.self == Data.self { (value as! Data).withUnsafeBytes { buffer.packBinary($0) } }
        else if T.self == Date.self { try packDate(value as! Date) }
        else if T.self == URL.self { buffer.packString((value as! URL).absoluteString) }
        else if T.self == UUID.self { buffer.packString((value as! UUID).uuidString) }
        else if T.self == Decimal.self { buffer.packString((value as! Decimal).description) }
        else if T.self == MessagePackValue.self { (value as! MessagePackValue).pack(into: buffer) }
        else if Self.lastPlainType.contains(T.self) { return false }
        else if !options.structsAsArrays, let direct = directTypes.lookUp(T.self) { try encodeDirect(value, as: direct) }
        else if let map = value as? any _MessagePackDictionary { try map._encodeMessagePackMap(self) }
        else { Self.lastPlainType.remember(T.self); return false }
        return true
    }

    func packDate(_ date: Date) throws {
        let t = date.timeIntervalSince1970
        var seconds = t.rounded(.down)
        var nanos = ((t - seconds) * 1e9).rounded()
        if nanos >= 1e9 { seconds += 1; nanos -= 1e9 }
        // Int64(_:) traps outside its range; 2^63 is the first Double that does not fit. It is
        // also what a decoded timestamp near Int64.max rounds to, so it maps back to Int64.max:
        // a Date the decoder made always encodes again.
        guard seconds.isFinite, seconds >= -9.223372036854775808e18, seconds <= 9.223372036854775808e18 else {
            // The value carried is the Double, not the Date: FoundationEssentials' Date.description
            // traps for dates this far out, and error reporters describe the value.
            throw EncodingError.invalidValue(t, .init(codingPath: codingPath, debugDescription:
                "\(t) seconds since 1970 do not fit the timestamp extension's signed 64-bit seconds"))
        }
        let whole = seconds == 9.223372036854775808e18 ? Int64.max : Int64(seconds)
        buffer.packTimestamp(seconds: whole, nanoseconds: UInt32(nanos))
    }

    // MARK: frames

    func openFrame(isMap: Bool) -> (index: Int, id: UInt32) {
        let id = nextID
        nextID &+= 1
        frames.append(Frame(header: buffer.count, count: 0, isMap: isMap, id: id, pendingSlot: false))
        buffer.writeByte(isMap ? 0x80 : 0x90)
        return (frames.count - 1, id)
    }

    /// Makes frame `index` the innermost open one and counts one more element in it.
    @inline(__always) func willWrite(into index: Int, id: UInt32) throws {
        guard index < frames.count, frames[index].id == id else { throw staleContainer() }
        if frames.count > index + 1 || frames[index].pendingSlot { try close(downTo: index + 1) }
        if frames[index].pendingSlot { fillPendingSlot(index) }
        frames[index].count += 1
    }

    /// A slot whose sub-encoder wrote nothing still needs a value: an empty map.
    func fillPendingSlot(_ index: Int) {
        buffer.packMapHeader(0)
        frames[index].pendingSlot = false
    }

    /// Closes every frame at `depth` and above, patching each header.
    func close(downTo depth: Int) throws {
        while frames.count > depth {
            if frames[frames.count - 1].pendingSlot { fillPendingSlot(frames.count - 1) }
            let frame = frames.removeLast()
            try patchHeader(frame)
        }
    }

    private func patchHeader(_ frame: Frame) throws {
        let n = frame.count
        if n < 16 {
            buffer.setByte((frame.isMap ? 0x80 : 0x90) | UInt8(n), at: frame.header)
        } else if n <= Int(UInt16.max) {
            buffer.insertGap(at: frame.header + 1, width: 2)
            buffer.setByte(frame.isMap ? 0xde : 0xdc, at: frame.header)
            buffer.setBigEndian(UInt16(n), at: frame.header + 1)
        } else if n <= Int(UInt32.max) {
            buffer.insertGap(at: frame.header + 1, width: 4)
            buffer.setByte(frame.isMap ? 0xdf : 0xdd, at: frame.header)
            buffer.setBigEndian(UInt32(n), at: frame.header + 1)
        } else {
            throw EncodingError.invalidValue(n, .init(codingPath: codingPath, debugDescription: "a container of \(n) elements exceeds MessagePack's 2^32-1"))
        }
    }

    func staleContainer() -> EncodingError {
        EncodingError.invalidValue((), .init(codingPath: codingPath, debugDescription:
            "a container was written to after a container opened later in the same value was used; MessagePackEncoder writes containers in order"))
    }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        keyedEncodingContainer(level: valueLevel, slot: nil, codingPath: codingPath, keyedBy: type)
    }

    /// The keyed container handed out last, kept for the next struct of the same key type (the
    /// generic metadata and box of a new one cost about 15% of a small struct's encode). Reused
    /// only when nothing but this cache holds it. `KeyedEncodingContainer` is a single reference
    /// to its box (the standard library's layout is fixed on Linux), so it is kept as that.
    @exclusivity(unchecked) private var cachedKeyType: ObjectIdentifier?
    @exclusivity(unchecked) private var cachedBox: AnyObject?
    @exclusivity(unchecked) private var cachedState: _KeyedEncodingState?

    func keyedEncodingContainer<Key: CodingKey>(level: Int, slot: (index: Int, id: UInt32)?, codingPath: [any CodingKey], keyedBy: Key.Type) -> KeyedEncodingContainer<Key> {
        let isMap = !options.structsAsArrays
        let frame = frameForValue(level: level, slot: slot, isMap: isMap)
        if cachedKeyType == ObjectIdentifier(Key.self), let state = cachedState, isKnownUniquelyReferenced(&cachedBox) {
            state.index = frame.index
            state.id = frame.id
            state.writesKeys = isMap
            state.codingPath = codingPath
            return unsafeBitCast(cachedBox, to: KeyedEncodingContainer<Key>.self)
        }
        let state = _KeyedEncodingState(encoder: self, index: frame.index, id: frame.id, writesKeys: isMap, codingPath: codingPath)
        let container = KeyedEncodingContainer(_KeyedEncodingContainer<Key>(state: state))
        cachedKeyType = ObjectIdentifier(Key.self)
        cachedBox = unsafeBitCast(container, to: AnyObject.self)
        cachedState = state
        return container
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        unkeyedContainer(level: valueLevel)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        _SingleValueEncodingContainer(encoder: self, level: valueLevel, slot: nil, codingPath: codingPath)
    }

    /// The keyed container of the value that starts at `level`: the same one if it asked before.
    func unkeyedContainer(level: Int, slot: (index: Int, id: UInt32)? = nil) -> _UnkeyedEncodingContainer {
        let frame = frameForValue(level: level, slot: slot, isMap: false)
        return _UnkeyedEncodingContainer(encoder: self, index: frame.index, id: frame.id, codingPath: codingPath)
    }

    private func frameForValue(level: Int, slot: (index: Int, id: UInt32)?, isMap: Bool) -> (index: Int, id: UInt32) {
        if frames.count > level, frames[level].isMap == isMap, slot.map({ $0.index + 1 == level }) ?? true {
            try? close(downTo: level + 1)
            return (level, frames[level].id)
        }
        if let slot, slot.index < frames.count, frames[slot.index].id == slot.id {
            try? close(downTo: slot.index + 1)
            frames[slot.index].pendingSlot = false
        } else {
            try? close(downTo: level)
        }
        return openFrame(isMap: isMap)
    }
}

/// Dictionaries encode as MessagePack maps keyed by their keys' own encodings.
protocol _MessagePackDictionary {
    func _encodeMessagePackMap(_ encoder: _MessagePackEncoder) throws
}

extension Dictionary: _MessagePackDictionary where Key: Encodable, Value: Encodable {
    func _encodeMessagePackMap(_ encoder: _MessagePackEncoder) throws {
        encoder.buffer.packMapHeader(count)
        for (key, value) in self {
            try encoder.encodeValue(key)
            try encoder.encodeValue(value, key: _MessagePackKey(describing: key))
        }
    }
}

/// A coding key for positions that have no key of their own (array indexes, map entries).
struct _MessagePackKey: CodingKey {
    /// nil for an array index: its text is made only when someone reads it (an error's
    /// coding path), not for every element decoded.
    private let text: String?
    var intValue: Int?
    var stringValue: String { text ?? "Index \(intValue ?? 0)" }
    init(stringValue: String) { self.text = stringValue; self.intValue = nil }
    init(intValue: Int) { self.text = nil; self.intValue = intValue }
    init(describing key: some Any) { self.text = "\(key)"; self.intValue = nil }
    static let `super` = _MessagePackKey(stringValue: "super")
}
