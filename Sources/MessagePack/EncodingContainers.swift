/// The position of a keyed container: its frame on the encoder's stack and its coding path.
final class _KeyedEncodingState {
    let encoder: _MessagePackEncoder
    @exclusivity(unchecked) var index: Int
    @exclusivity(unchecked) var id: UInt32
    @exclusivity(unchecked) var writesKeys: Bool
    @exclusivity(unchecked) var codingPath: [any CodingKey]

    init(encoder: _MessagePackEncoder, index: Int, id: UInt32, writesKeys: Bool, codingPath: [any CodingKey]) {
        self.encoder = encoder
        self.index = index
        self.id = id
        self.writesKeys = writesKeys
        self.codingPath = codingPath
    }
}

/// A struct (or keyed value) being written: a map, or an array of values with
/// ``MessagePackEncoder/Options-swift.struct/structsAsArrays``.
struct _KeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    /// Where this container writes. A class, not generic, so that an encoder can keep the last
    /// container it handed out and point it at the next struct (see `keyedEncodingContainer`).
    let state: _KeyedEncodingState
    var encoder: _MessagePackEncoder { state.encoder }
    var index: Int { state.index }
    var id: UInt32 { state.id }
    var writesKeys: Bool { state.writesKeys }
    var codingPath: [any CodingKey] {
        get { state.codingPath }
        nonmutating set { state.codingPath = newValue }
    }

    @inline(__always) private func begin(_ key: Key) throws {
        try encoder.willWrite(into: index, id: id)
        if writesKeys { encoder.buffer.packString(key.stringValue) }
    }

    mutating func encodeNil(forKey key: Key) throws { try begin(key); encoder.buffer.packNil() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); encoder.buffer.packBool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); encoder.buffer.packString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); encoder.buffer.packDouble(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); encoder.buffer.packFloat(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); encoder.buffer.packInt(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); encoder.buffer.packUInt(value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        try encoder.encodeValue(value, key: key)
    }

    // In the array form every field has a position, so a nil optional is written as nil
    // instead of being left out (synthesized Codable leaves it out, which would shift the rest).
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if !writesKeys { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let slot = self.slot(for: key)
        return encoder.keyedEncodingContainer(level: index + 1, slot: slot, codingPath: codingPath + [key], keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let slot = self.slot(for: key)
        var nested = encoder.unkeyedContainer(level: index + 1, slot: slot)
        nested.codingPath = codingPath + [key]
        return nested
    }

    mutating func superEncoder() -> any Encoder {
        _SlotEncoder(encoder: encoder, slot: slot(for: _MessagePackKey.super), codingPath: codingPath + [_MessagePackKey.super])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        _SlotEncoder(encoder: encoder, slot: slot(for: key), codingPath: codingPath + [key])
    }

    /// Writes `key` and marks the value after it as owed by a nested encoder or container.
    private func slot(for key: some CodingKey) -> (index: Int, id: UInt32)? {
        do {
            try encoder.willWrite(into: index, id: id)
        } catch {
            return nil   // a stale container: the nested one opens at the end and fails on use
        }
        if writesKeys { encoder.buffer.packString(key.stringValue) }
        encoder.frames[index].pendingSlot = true
        return (index, id)
    }
}

/// An array being written.
struct _UnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let encoder: _MessagePackEncoder
    let index: Int
    let id: UInt32
    var codingPath: [any CodingKey]

    var count: Int { index < encoder.frames.count && encoder.frames[index].id == id ? encoder.frames[index].count : 0 }

    @inline(__always) private func begin() throws { try encoder.willWrite(into: index, id: id) }

    mutating func encodeNil() throws { try begin(); encoder.buffer.packNil() }
    mutating func encode(_ value: Bool) throws { try begin(); encoder.buffer.packBool(value) }
    mutating func encode(_ value: String) throws { try begin(); encoder.buffer.packString(value) }
    mutating func encode(_ value: Double) throws { try begin(); encoder.buffer.packDouble(value) }
    mutating func encode(_ value: Float) throws { try begin(); encoder.buffer.packFloat(value) }
    mutating func encode(_ value: Int) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try begin(); encoder.buffer.packInt(value) }
    mutating func encode(_ value: UInt) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try begin(); encoder.buffer.packUInt(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let position = count
        try begin()
        try encoder.encodeValue(value, key: _MessagePackKey(intValue: position))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = _MessagePackKey(intValue: count)
        let slot = self.slot()
        return encoder.keyedEncodingContainer(level: index + 1, slot: slot, codingPath: codingPath + [key], keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = _MessagePackKey(intValue: count)
        let slot = self.slot()
        var nested = encoder.unkeyedContainer(level: index + 1, slot: slot)
        nested.codingPath = codingPath + [key]
        return nested
    }

    mutating func superEncoder() -> any Encoder {
        let key = _MessagePackKey(intValue: count)
        return _SlotEncoder(encoder: encoder, slot: slot(), codingPath: codingPath + [key])
    }

    private func slot() -> (index: Int, id: UInt32)? {
        do { try begin() } catch { return nil }
        encoder.frames[index].pendingSlot = true
        return (index, id)
    }
}

/// A single value being written, at the position its encoder owns.
struct _SingleValueEncodingContainer: SingleValueEncodingContainer {
    let encoder: _MessagePackEncoder
    let level: Int
    let slot: (index: Int, id: UInt32)?
    var codingPath: [any CodingKey]

    @inline(__always) private func begin() throws {
        if let slot {
            guard slot.index < encoder.frames.count, encoder.frames[slot.index].id == slot.id,
                  encoder.frames[slot.index].pendingSlot else { throw encoder.staleContainer() }
            try encoder.close(downTo: slot.index + 1)
            encoder.frames[slot.index].pendingSlot = false
        } else if encoder.frames.count > level {
            try encoder.close(downTo: level)
        }
    }

    mutating func encodeNil() throws { try begin(); encoder.buffer.packNil() }
    mutating func encode(_ value: Bool) throws { try begin(); encoder.buffer.packBool(value) }
    mutating func encode(_ value: String) throws { try begin(); encoder.buffer.packString(value) }
    mutating func encode(_ value: Double) throws { try begin(); encoder.buffer.packDouble(value) }
    mutating func encode(_ value: Float) throws { try begin(); encoder.buffer.packFloat(value) }
    mutating func encode(_ value: Int) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try begin(); encoder.buffer.packInt(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try begin(); encoder.buffer.packInt(value) }
    mutating func encode(_ value: UInt) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try begin(); encoder.buffer.packUInt(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try begin(); encoder.buffer.packUInt(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        try encoder.encodeValue(value)
    }
}

/// The encoder `superEncoder()` returns: it owes exactly one value to a slot of its parent
/// container; if it writes none, the slot gets an empty map when the parent moves on.
struct _SlotEncoder: Encoder {
    let encoder: _MessagePackEncoder
    let slot: (index: Int, id: UInt32)?
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { encoder.userInfo }
    private var level: Int { (slot?.index ?? encoder.frames.count - 1) + 1 }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        encoder.keyedEncodingContainer(level: level, slot: slot, codingPath: codingPath, keyedBy: type)
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        var c = encoder.unkeyedContainer(level: level, slot: slot)
        c.codingPath = codingPath
        return c
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        _SingleValueEncodingContainer(encoder: encoder, level: level, slot: slot, codingPath: codingPath)
    }
}
