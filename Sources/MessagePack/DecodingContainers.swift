#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The reading position in a map that is being read as a struct. Keys are looked up where the
/// previous one was found first, so a struct read in the order it was written costs one key
/// comparison per field and allocates nothing; any other order builds an index of the map once.
///
/// Not generic, so that a decoder can keep one and reset it for the next struct of the same
/// type instead of allocating a container (see `_MessagePackDecoder.keyedContainer`).
final class _MapCursor {
    @exclusivity(unchecked) var decoder: _MessagePackDecoder?
    @exclusivity(unchecked) var count = 0
    @exclusivity(unchecked) var codingPath: [any CodingKey] = []
    /// The entry the cursor is on: its index, key offset and value offset.
    @exclusivity(unchecked) var index = 0
    @exclusivity(unchecked) var keyOffset = 0
    @exclusivity(unchecked) var valueOffset = -1
    @exclusivity(unchecked) var entries: [(key: Int, value: Int)]? = nil
    @exclusivity(unchecked) var firstKey = 0

    init(decoder: _MessagePackDecoder, header: ByteReader.Header, codingPath: [any CodingKey]) {
        reset(decoder: decoder, header: header, codingPath: codingPath)
    }

    func reset(decoder: _MessagePackDecoder, header: ByteReader.Header, codingPath: [any CodingKey]) {
        self.decoder = decoder
        self.count = header.length
        self.keyOffset = header.body
        self.firstKey = header.body
        self.codingPath = codingPath
        self.index = 0
        self.valueOffset = -1
        if entries != nil { entries = nil }
    }

    /// Where the value after the map key at `offset` starts if that key is the string `name`.
    @inline(__always) private func value(afterKeyAt offset: Int, ifNamed name: String, in decoder: _MessagePackDecoder) throws(_DecodeFailure) -> Int? {
        let h = try decoder.header(at: offset)
        guard h.kind == .string else { return nil }
        var name = name
        let base = decoder.reader.base!
        let matches = name.withUTF8 { utf8 in
            guard utf8.count == h.length else { return false }
            // Keys are short: a byte loop beats a call to memcmp.
            for i in 0..<utf8.count where utf8[i] != base.load(fromByteOffset: h.body + i, as: UInt8.self) { return false }
            return true
        }
        return matches ? h.body + h.length : nil
    }

    /// The offset of the value for the key `name`, or nil when the map has no such key.
    func find(named name: String) throws(_DecodeFailure) -> Int? {
        guard count > 0, let decoder else { return nil }
        // The entry under the cursor (asked again: contains, then decodeNil, then decode).
        if valueOffset >= 0 {
            if try value(afterKeyAt: keyOffset, ifNamed: name, in: decoder) != nil { return valueOffset }
        } else if let v = try value(afterKeyAt: keyOffset, ifNamed: name, in: decoder) {
            valueOffset = v
            return v
        }
        // The next entry: a struct read in the order it was written.
        if index + 1 < count {
            if valueOffset < 0 { valueOffset = try decoder.end(of: keyOffset) }
            let nextKey = try decoder.end(of: valueOffset)
            if let v = try value(afterKeyAt: nextKey, ifNamed: name, in: decoder) {
                index += 1
                keyOffset = nextKey
                valueOffset = v
                return v
            }
        }
        let entries = try allEntries()
        for i in entries.indices where try value(afterKeyAt: entries[i].key, ifNamed: name, in: decoder) != nil {
            index = i
            keyOffset = entries[i].key
            valueOffset = entries[i].value
            return valueOffset
        }
        return nil
    }

    func allEntries() throws(_DecodeFailure) -> [(key: Int, value: Int)] {
        if let entries { return entries }
        guard let decoder else { return [] }
        var result: [(key: Int, value: Int)] = []
        result.reserveCapacity(count)
        var position = firstKey
        for _ in 0..<count {
            let value = try decoder.end(of: position)
            result.append((position, value))
            position = try decoder.end(of: value)
        }
        entries = result
        return result
    }
}

/// A map read as a struct, through a ``_MapCursor``.
struct _KeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let cursor: _MapCursor
    /// The decoder; after its `decode` call ended, one over no bytes (reads fail, never crash).
    var decoder: _MessagePackDecoder {
        cursor.decoder ?? _MessagePackDecoder(ByteReader(UnsafeRawBufferPointer(start: nil, count: 0), maxDepth: 0), options: .init(), userInfo: [:])
    }
    var codingPath: [any CodingKey] { cursor.codingPath }

    private func find(_ key: Key) throws(_DecodeFailure) -> Int? { try cursor.find(named: key.stringValue) }
    private func find(named name: String) throws(_DecodeFailure) -> Int? { try cursor.find(named: name) }
    private func allEntries() throws(_DecodeFailure) -> [(key: Int, value: Int)] { try cursor.allEntries() }

    var allKeys: [Key] {
        guard let entries = try? allEntries() else { return [] }
        return entries.compactMap { entry in
            (try? decoder.decodeString(at: entry.key)).flatMap { Key(stringValue: $0) }
        }
    }

    func contains(_ key: Key) -> Bool { ((try? find(key)) ?? nil) != nil }

    @inline(__always) private func value(_ key: Key) throws -> Int {
        let found: Int?
        do { found = try find(key) } catch { throw decoder.error(error, key: key) }
        guard let offset = found else {
            throw DecodingError.keyNotFound(key, decoder.context(nil, "no value for key \"\(key.stringValue)\" in the map at this path"))
        }
        return offset
    }

    func decodeNil(forKey key: Key) throws -> Bool { decoder.decodeNil(at: try value(key)) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeBool(at: o) } }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeString(at: o) } }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeDouble(at: o) } }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeFloat(at: o) } }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { let o = try value(key); return try decoder.read(key) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.decodeValue(type, at: value(key), key: key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try nestedDecoder(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try nestedDecoder(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { try nestedDecoder(_MessagePackKey.super, optional: true) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try nestedDecoder(key, optional: true) }

    private func nestedDecoder(_ key: some CodingKey, optional: Bool = false) throws -> _MessagePackDecoder {
        let found: Int?
        do { found = try find(named: key.stringValue) } catch { throw decoder.error(error, key: key) }
        guard let offset = found else {
            if optional { return decoder.detached(offset: -1, codingPath: codingPath + [key]) }
            throw DecodingError.keyNotFound(key, decoder.context(nil, "no value for key \"\(key.stringValue)\" in the map at this path"))
        }
        return decoder.detached(offset: offset, codingPath: codingPath + [key])
    }
}

/// A struct read from an array of its values (``MessagePackDecoder/Options-swift.struct/structsAsArrays``):
/// the n-th key asked for is the n-th element.
final class _ArrayKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: _MessagePackDecoder
    let codingPath: [any CodingKey]
    private var offsets: [Int] = []
    private var keys: [String: Int] = [:]

    init(decoder: _MessagePackDecoder, header: ByteReader.Header, codingPath: [any CodingKey]) throws {
        self.decoder = decoder
        self.codingPath = codingPath
        var position = header.body
        for _ in 0..<header.length {
            offsets.append(position)
            position = try decoder.end(of: position, key: nil)
        }
    }

    private func slot(_ key: Key) -> Int? {
        if let i = keys[key.stringValue] { return i < offsets.count ? offsets[i] : nil }
        let i = keys.count
        keys[key.stringValue] = i
        return i < offsets.count ? offsets[i] : nil
    }

    private func value(_ key: Key) throws -> Int {
        guard let offset = slot(key) else {
            throw DecodingError.keyNotFound(key, decoder.context(nil, "the array has no element for key \"\(key.stringValue)\""))
        }
        return offset
    }

    var allKeys: [Key] { [] }
    func contains(_ key: Key) -> Bool { slot(key) != nil }
    func decodeNil(forKey key: Key) throws -> Bool { decoder.decodeNil(at: try value(key)) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.decodeValue(type, at: value(key), key: key) }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.detached(offset: value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.detached(offset: value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }
    func superDecoder() throws -> any Decoder { decoder.detached(offset: -1, codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        decoder.detached(offset: slot(key) ?? -1, codingPath: codingPath + [key])
    }
}

/// An array being read, element by element.
struct _UnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let decoder: _MessagePackDecoder
    let count: Int?
    var position: Int
    var codingPath: [any CodingKey]
    var currentIndex = 0

    init(decoder: _MessagePackDecoder, count: Int, position: Int, codingPath: [any CodingKey]) {
        self.decoder = decoder
        self.count = count
        self.position = position
        self.codingPath = codingPath
    }

    var isAtEnd: Bool { currentIndex >= count! }

    private var key: _MessagePackKey { _MessagePackKey(intValue: currentIndex) }

    /// The offset of the next element, moving past it.
    private mutating func next(_ type: Any.Type) throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, decoder.context(key, "the array has only \(count!) elements"))
        }
        let offset = position
        position = try decoder.end(of: offset, key: key)
        currentIndex += 1
        return offset
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any?.self, decoder.context(key, "the array has only \(count!) elements")) }
        if decoder.decodeNil(at: position) { _ = try next(Any?.self); return true }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeBool(at: o) } }
    mutating func decode(_ type: String.Type) throws -> String { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeString(at: o) } }
    mutating func decode(_ type: Double.Type) throws -> Double { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeDouble(at: o) } }
    mutating func decode(_ type: Float.Type) throws -> Float { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeFloat(at: o) } }
    mutating func decode(_ type: Int.Type) throws -> Int { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let k = key; let o = try next(type); return try decoder.read(k) { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: o) } }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { let k = key; return try decoder.decodeValue(type, at: next(type), key: k) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let k = key
        return try decoder.detached(offset: next([String: Any].self), codingPath: codingPath + [k]).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let k = key
        return try decoder.detached(offset: next([Any].self), codingPath: codingPath + [k]).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let k = key
        return decoder.detached(offset: try next(Any.self), codingPath: codingPath + [k])
    }
}

/// The value a decoder points at, read as one scalar or special type.
struct _SingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoder: _MessagePackDecoder
    let offset: Int
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { decoder.decodeNil(at: offset) }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeBool(at: offset) } }
    func decode(_ type: String.Type) throws -> String { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeString(at: offset) } }
    func decode(_ type: Double.Type) throws -> Double { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeDouble(at: offset) } }
    func decode(_ type: Float.Type) throws -> Float { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeFloat(at: offset) } }
    func decode(_ type: Int.Type) throws -> Int { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.read { () throws(_DecodeFailure) in try decoder.decodeInteger(type, at: offset) } }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type, at: offset) }
}
