import CMsgPack
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `Codable` struct that ``MessagePackEncoder`` and ``MessagePackDecoder`` write and read
/// directly, field by field, without `Codable`'s keyed containers.
///
/// The bytes are the ones the `Codable` path writes (a map of the fields by name, an optional
/// field left out when nil), so a peer, a Python one included, sees no difference; only the cost
/// changes (a round trip of a small struct takes about half the time). The `@MessagePackCodable`
/// macro of the `MessagePackMacros` library writes both members from the stored properties; the
/// `Codable` conformance stays, and is what every other coder (and the encoder with
/// ``MessagePackEncoder/Options-swift.struct/structsAsArrays``) uses.
///
/// ```swift
/// import MessagePackMacros
///
/// @MessagePackCodable
/// struct Reading: Codable { var id: Int; var name: String; var value: Double? }
/// let bytes = try MessagePackEncoder().encode(Reading(id: 1, name: "t", value: nil))
/// // 82 a2 69 64 01 a4 6e 61 6d 65 a1 74: the same bytes as without the macro
/// ```
///
/// Written by hand, the members look like this (keys are the wire names):
///
/// ```swift
/// func encodeMessagePack(to encoder: inout MessagePackStructEncoder) throws {
///     encoder.beginMap(count: value == nil ? 2 : 3)
///     try encoder.encode(id, forKey: "id")
///     try encoder.encode(name, forKey: "name")
///     if let value { try encoder.encode(value, forKey: "value") }
/// }
/// init(messagePack decoder: inout MessagePackStructDecoder) throws {
///     var id: Int?, name: String?, value: Double?
///     while let key = try decoder.nextKey() {
///         if key == "id" { id = try decoder.decode(Int.self) }
///         else if key == "name" { name = try decoder.decode(String.self) }
///         else if key == "value" { value = try decoder.decodeIfPresent(Double.self) }
///     }   // keys it does not know are skipped, as the Codable path does
///     self.id = try decoder.required(id, "id")
///     self.name = try decoder.required(name, "name")
///     self.value = value
/// }
/// ```
public protocol MessagePackDirectCodable: Codable {
    /// Writes this value's map: ``MessagePackStructEncoder/beginMap(count:)``, then each field.
    func encodeMessagePack(to encoder: inout MessagePackStructEncoder) throws
    /// Reads a value from the map at the decoder's position, in any key order.
    init(messagePack decoder: inout MessagePackStructDecoder) throws
}

/// Writes one ``MessagePackDirectCodable`` value's map into the encoder's buffer: the header,
/// then each key and value. Values of other types go through their `Codable` conformance.
public struct MessagePackStructEncoder {
    let encoder: _MessagePackEncoder

    init(_ encoder: _MessagePackEncoder) { self.encoder = encoder }

    /// The `userInfo` the encoder was given.
    public var userInfo: [CodingUserInfoKey: Any] { encoder.userInfo }

    /// Writes the map header: `count` must be the number of `encode` calls that follow.
    public mutating func beginMap(count: Int) { encoder.buffer.packMapHeader(count) }

    @inline(__always) func key(_ key: StaticString) { encoder.buffer.packKey(key) }

    /// Writes `key` and an integer in its smallest form.
    public mutating func encode(_ value: Int, forKey key: StaticString) throws { self.key(key); encoder.buffer.packInt(Int64(value)) }
    /// Writes `key` and an integer in its smallest form.
    public mutating func encode(_ value: Int64, forKey key: StaticString) throws { self.key(key); encoder.buffer.packInt(value) }
    /// Writes `key` and an integer in its smallest form.
    public mutating func encode(_ value: Int32, forKey key: StaticString) throws { self.key(key); encoder.buffer.packInt(Int64(value)) }
    /// Writes `key` and an integer in its smallest form.
    public mutating func encode(_ value: UInt, forKey key: StaticString) throws { self.key(key); encoder.buffer.packUInt(UInt64(value)) }
    /// Writes `key` and an integer in its smallest form.
    public mutating func encode(_ value: UInt64, forKey key: StaticString) throws { self.key(key); encoder.buffer.packUInt(value) }
    /// Writes `key` and an integer in its smallest form.
    public mutating func encode(_ value: UInt32, forKey key: StaticString) throws { self.key(key); encoder.buffer.packUInt(UInt64(value)) }
    /// Writes `key` and a float 64.
    public mutating func encode(_ value: Double, forKey key: StaticString) throws { self.key(key); encoder.buffer.packDouble(value) }
    /// Writes `key` and a float 32.
    public mutating func encode(_ value: Float, forKey key: StaticString) throws { self.key(key); encoder.buffer.packFloat(value) }
    /// Writes `key` and a boolean.
    public mutating func encode(_ value: Bool, forKey key: StaticString) throws { self.key(key); encoder.buffer.packBool(value) }
    /// Writes `key` and a string.
    public mutating func encode(_ value: String, forKey key: StaticString) throws { self.key(key); encoder.buffer.packString(value) }
    /// Writes `key` and the bytes as `bin`.
    public mutating func encode(_ value: Data, forKey key: StaticString) throws {
        self.key(key)
        value.withUnsafeBytes { encoder.buffer.packBinary($0) }
    }

    /// Writes `key` and any other value: a ``MessagePackDirectCodable`` one directly, anything
    /// else through its `encode(to:)`, as ``MessagePackEncoder`` writes it.
    public mutating func encode<T: Encodable>(_ value: T, forKey key: StaticString) throws {
        self.key(key)
        try encoder.encodeValue(value, key: _MessagePackKey(stringValue: key.description))
    }
}

/// The name of a map entry as its bytes on the wire (a slice of the input, valid while the
/// decoding call runs), compared with a field name without making a `String`.
public struct MessagePackKeyBytes {
    let bytes: UnsafeRawBufferPointer

    /// Whether the key is `name`.
    @inline(__always)
    public static func == (key: MessagePackKeyBytes, name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        guard key.bytes.count == count else { return false }
        return count == 0 || memcmp(key.bytes.baseAddress!, name.utf8Start, count) == 0
    }

    /// The key as text (for messages).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// Reads one ``MessagePackDirectCodable`` value's map: each key in turn (``nextKey()``), then,
/// for a field of the type, its value (`decode`); a key no `decode` follows is skipped. Errors
/// are the `DecodingError`s of the `Codable` path, with the same coding paths.
public struct MessagePackStructDecoder {
    let decoder: _MessagePackDecoder
    /// Entries not read yet.
    var remaining: Int
    /// Where the next entry's key starts.
    var position: Int
    /// The current entry's value.
    var valueOffset = -1
    var currentKey = MessagePackKeyBytes(bytes: UnsafeRawBufferPointer(start: nil, count: 0))

    init(_ decoder: _MessagePackDecoder, entries: Int, at position: Int) {
        self.decoder = decoder
        self.remaining = entries
        self.position = position
    }

    /// The `userInfo` the decoder was given.
    public var userInfo: [CodingUserInfoKey: Any] { decoder.userInfo }

    /// The next entry's key (its value is read next, or skipped), or nil after the last entry.
    /// A key that is not a string is a `DecodingError.dataCorrupted`.
    public mutating func nextKey() throws -> MessagePackKeyBytes? {
        guard remaining > 0 else { return nil }
        remaining -= 1
        let h = try decoder.header(at: position, key: nil)
        guard h.kind == .string else {
            throw DecodingError.dataCorrupted(decoder.context(nil, "a map key at byte offset \(position) is a \(h.kind), not a string"))
        }
        currentKey = MessagePackKeyBytes(bytes: decoder.reader.body(h))
        valueOffset = h.body + h.length
        do { position = try decoder.end(of: valueOffset) } catch { throw decoder.error(error, key: codingKey) }
        return currentKey
    }

    /// The current key as a coding key (made only for errors and nested values).
    var codingKey: _MessagePackKey { _MessagePackKey(stringValue: currentKey.text) }

    @inline(__always) func read<R>(_ body: (_MessagePackDecoder, Int) throws(_DecodeFailure) -> R) throws -> R {
        do { return try body(decoder, valueOffset) } catch { throw decoder.error(error, key: codingKey) }
    }

    /// The current entry's value as an `Int` (any integer encoding that fits).
    public func decode(_ type: Int.Type) throws -> Int { try read { d, o throws(_DecodeFailure) in try d.decodeInteger(Int.self, at: o) } }
    /// The current entry's value as an `Int64`.
    public func decode(_ type: Int64.Type) throws -> Int64 { try read { d, o throws(_DecodeFailure) in try d.decodeInteger(Int64.self, at: o) } }
    /// The current entry's value as an `Int32`.
    public func decode(_ type: Int32.Type) throws -> Int32 { try read { d, o throws(_DecodeFailure) in try d.decodeInteger(Int32.self, at: o) } }
    /// The current entry's value as a `UInt`.
    public func decode(_ type: UInt.Type) throws -> UInt { try read { d, o throws(_DecodeFailure) in try d.decodeInteger(UInt.self, at: o) } }
    /// The current entry's value as a `UInt64`.
    public func decode(_ type: UInt64.Type) throws -> UInt64 { try read { d, o throws(_DecodeFailure) in try d.decodeInteger(UInt64.self, at: o) } }
    /// The current entry's value as a `UInt32`.
    public func decode(_ type: UInt32.Type) throws -> UInt32 { try read { d, o throws(_DecodeFailure) in try d.decodeInteger(UInt32.self, at: o) } }
    /// The current entry's value as a `Double` (a float, or an integer it holds exactly).
    public func decode(_ type: Double.Type) throws -> Double { try read { d, o throws(_DecodeFailure) in try d.decodeDouble(at: o) } }
    /// The current entry's value as a `Float`.
    public func decode(_ type: Float.Type) throws -> Float { try read { d, o throws(_DecodeFailure) in try d.decodeFloat(at: o) } }
    /// The current entry's value as a `Bool`.
    public func decode(_ type: Bool.Type) throws -> Bool { try read { d, o throws(_DecodeFailure) in try d.decodeBool(at: o) } }
    /// The current entry's value as a `String` (validated UTF-8).
    public func decode(_ type: String.Type) throws -> String { try read { d, o throws(_DecodeFailure) in try d.decodeString(at: o) } }
    /// The current entry's value as `Data` (`bin`).
    public func decode(_ type: Data.Type) throws -> Data { try read { d, o throws(_DecodeFailure) in try d.decodeData(at: o) } }

    /// The current entry's value as any other type: a ``MessagePackDirectCodable`` one
    /// directly, anything else through its `init(from:)`, as ``MessagePackDecoder`` reads it.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.decodeValue(T.self, at: valueOffset, key: codingKey)
    }

    /// The current entry's value for an optional field: nil for `nil`, else the value.
    public func decodeIfPresent<T: Decodable>(_ type: T.Type) throws -> T? {
        if decoder.decodeNil(at: valueOffset) { return nil }
        if T.self == String.self { return unsafeBitCast(try decode(String.self), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try decode(Int.self), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try decode(Double.self), to: T.self) }
        return try decode(T.self)
    }

    /// `value`, or the `DecodingError.keyNotFound` of a required field the map did not have.
    /// (Inlinable: specialized in the caller, it costs no generic metadata lookup.)
    @inlinable
    public func required<T>(_ value: T?, _ key: StaticString) throws -> T {
        if let value { return value }
        throw keyNotFound(key)
    }

    /// The `DecodingError.keyNotFound` of a required field `key` the map did not have.
    public func keyNotFound(_ key: StaticString) -> DecodingError {
        DecodingError.keyNotFound(_MessagePackKey(stringValue: key.description), decoder.context(nil, "no value for key \"\(key)\""))
    }
}

/// The last type found to be ``MessagePackDirectCodable``, kept with its conformance (one per
/// coder object, which one call at a time uses): a conformance lookup costs more than encoding
/// a small struct's fields.
struct DirectTypeCache {
    private var last: (id: ObjectIdentifier, type: any MessagePackDirectCodable.Type)?

    /// `type` as a ``MessagePackDirectCodable`` type, or nil.
    @inline(__always) mutating func lookUp<T>(_ type: T.Type) -> (any MessagePackDirectCodable.Type)? {
        if let last, last.id == ObjectIdentifier(type) { return last.type }
        guard let direct = type as? any MessagePackDirectCodable.Type else { return nil }
        last = (ObjectIdentifier(type), direct)
        return direct
    }
}

extension _MessagePackEncoder {
    /// Writes `value`, a ``MessagePackDirectCodable`` value whose type is `D` at run time, at
    /// the current position (the hook of ``encodeValue(_:)``).
    func encodeDirect<T, D: MessagePackDirectCodable>(_ value: T, as type: D.Type) throws {
        var structEncoder = MessagePackStructEncoder(self)
        try withUnsafePointer(to: value) { pointer in
            try pointer.withMemoryRebound(to: D.self, capacity: 1) { try $0.pointee.encodeMessagePack(to: &structEncoder) }
        }
    }
}

extension _MessagePackDecoder {
    /// Reads a ``MessagePackDirectCodable`` value from the map at `offset` (the hook of
    /// ``decodeValue(_:at:key:)``); `T` is `D` at run time.
    func decodeDirect<D: MessagePackDirectCodable, T>(_ type: D.Type, as: T.Type, at offset: Int, key: (any CodingKey)?) throws -> T {
        let h = try header(at: offset, key: key)
        guard h.kind == .map else { throw mismatch(D.self, h, at: offset, key: key) }
        if let key { codingPath.append(key) }
        defer { if key != nil { codingPath.removeLast() } }
        var structDecoder = MessagePackStructDecoder(self, entries: h.length, at: h.body)
        let value = try D(messagePack: &structDecoder)
        return unsafeBitCast(value, to: T.self)
    }
}

extension PackBuffer {
    /// A map key: a string header and the name's bytes.
    @inline(__always) func packKey(_ name: StaticString) {
        let count = name.utf8CodeUnitCount
        msgpack_pack_str(packer, count)
        if count > 0 { msgpack_pack_str_body(packer, name.utf8Start, count) }
    }
}
