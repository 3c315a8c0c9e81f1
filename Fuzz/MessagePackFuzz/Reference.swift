import CMsgPack
import FoundationEssentials
@_spi(Fuzzing) import MessagePack

/// A value as msgpack-c's unpacker built it, copied out of its zone and the input.
indirect enum Ref: CustomStringConvertible {
    case `nil`
    case bool(Bool)
    /// `MSGPACK_OBJECT_POSITIVE_INTEGER`: msgpack-c classifies by sign, not by format.
    case positive(UInt64)
    case negative(Int64)
    /// `MSGPACK_OBJECT_FLOAT32`: the bits of `via.f64`, the float widened to double.
    case float32(UInt64)
    case float64(UInt64)
    /// Raw bytes; `body` is the offset of the first body byte in the input.
    case string([UInt8], body: Int)
    case binary([UInt8])
    /// `timestamp` is msgpack-c's own `msgpack_object_to_timestamp` for type -1 (nil when it refuses).
    case ext(type: Int8, data: [UInt8], body: Int, timestamp: (seconds: Int64, nanoseconds: UInt32)?)
    case array([Ref])
    case map([(key: Ref, value: Ref)])

    init(_ o: msgpack_object, input base: UnsafeRawPointer) {
        switch o.type {
        case MSGPACK_OBJECT_NIL: self = .nil
        case MSGPACK_OBJECT_BOOLEAN: self = .bool(o.via.boolean)
        case MSGPACK_OBJECT_POSITIVE_INTEGER: self = .positive(o.via.u64)
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: self = .negative(o.via.i64)
        case MSGPACK_OBJECT_FLOAT32: self = .float32(o.via.f64.bitPattern)
        case MSGPACK_OBJECT_FLOAT64: self = .float64(o.via.f64.bitPattern)
        case MSGPACK_OBJECT_STR:
            let (bytes, body) = Ref.copy(o.via.str.ptr, Int(o.via.str.size), base)
            self = .string(bytes, body: body)
        case MSGPACK_OBJECT_BIN:
            self = .binary(Ref.copy(o.via.bin.ptr, Int(o.via.bin.size), base).bytes)
        case MSGPACK_OBJECT_EXT:
            let (bytes, body) = Ref.copy(o.via.ext.ptr, Int(o.via.ext.size), base)
            var timestamp: (Int64, UInt32)?
            if o.via.ext.type == -1 {
                var ts = msgpack_timestamp()
                if withUnsafePointer(to: o, { msgpack_object_to_timestamp($0, &ts) }) {
                    timestamp = (ts.tv_sec, ts.tv_nsec)
                }
            }
            self = .ext(type: o.via.ext.type, data: bytes, body: body, timestamp: timestamp)
        case MSGPACK_OBJECT_ARRAY:
            let a = o.via.array
            self = .array((0..<Int(a.size)).map { Ref(a.ptr[$0], input: base) })
        case MSGPACK_OBJECT_MAP:
            let m = o.via.map
            self = .map((0..<Int(m.size)).map { (key: Ref(m.ptr[$0].key, input: base), value: Ref(m.ptr[$0].val, input: base)) })
        default:
            fail("msgpack-c built an object of unknown type \(o.type.rawValue)")
        }
    }

    private static func copy(_ pointer: UnsafePointer<CChar>?, _ count: Int, _ base: UnsafeRawPointer) -> (bytes: [UInt8], body: Int) {
        guard let pointer else { return ([], -1) }
        // An empty str or bin may point at its length field; an ext always points past its type byte.
        let raw = UnsafeRawPointer(pointer)
        return (count == 0 ? [] : Array(UnsafeRawBufferPointer(start: raw, count: count)), base.distance(to: raw))
    }

    var description: String {
        switch self {
        case .nil: "nil"
        case .bool(let v): "\(v)"
        case .positive(let v): "\(v)"
        case .negative(let v): "\(v)"
        case .float32(let bits): "float32(\(Double(bitPattern: bits)))"
        case .float64(let bits): "float64(\(Double(bitPattern: bits)))"
        case .string(let b, _): "str(\(hex(b)))"
        case .binary(let b): "bin(\(hex(b)))"
        case .ext(let t, let d, _, _): "ext(\(t), \(hex(d)))"
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .map(let m): "{" + m.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        }
    }

    /// The first string or timestamp, in reading order, that only the Swift reader refuses,
    /// with the offset of its body in the input. The UTF-8 check here is the standard
    /// library's repairing decoder (a third implementation besides the reader's and Model's).
    var firstSwiftOnlyViolation: (code: MessagePackError.Code, body: Int)? {
        switch self {
        case .string(let bytes, let body):
            let repaired = String(decoding: bytes, as: UTF8.self)
            return repaired.utf8.elementsEqual(bytes) ? nil : (.invalidUTF8, body)
        case .ext(-1, _, let body, let timestamp):
            guard let timestamp, timestamp.nanoseconds < 1_000_000_000 else { return (.invalidTimestamp, body) }
            return nil
        case .array(let a):
            for e in a { if let v = e.firstSwiftOnlyViolation { return v } }
            return nil
        case .map(let m):
            for (k, v) in m {
                if let x = k.firstSwiftOnlyViolation { return x }
                if let x = v.firstSwiftOnlyViolation { return x }
            }
            return nil
        default:
            return nil
        }
    }
}

/// msgpack-c's answer on the raw input.
struct ReferenceRun {
    var verdict: CVerdict
    /// The value it built, on `SUCCESS`.
    var value: Ref?
    /// The library's converter (`MessagePackValue(referenceObject:)`) on the same object.
    var libraryValue: Result<MessagePackValue, MessagePackError>?
}

/// msgpack-c is given an input only when `Model` says the containers it would open declare at
/// most this much element storage. msgpack-c allocates a declared count before any element
/// arrives (a 5-byte map32 header asks for ~200 GB); under the budget every allocation is
/// bounded, over it msgpack-c's verdict is `Model`'s prediction. A complete value never needs
/// more than 48 bytes per input byte, so the budget only skips inputs msgpack-c would reject.
let referenceAllocationBudget = 64 << 20

/// Calls `msgpack_unpack_next` once on `input` with a fresh context (never again after an
/// error: msgpack-c 4.0 is not safe to reuse after one).
func unpackWithMsgpackC(_ input: UnsafeRawBufferPointer) -> ReferenceRun {
    var result = msgpack_unpacked()
    msgpack_unpacked_init(&result)
    defer { msgpack_unpacked_destroy(&result) }
    var off = 0
    let ret = msgpack_unpack_next(&result, input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count, &off)
    if ret == MSGPACK_UNPACK_SUCCESS {
        guard let base = input.baseAddress else { fail("msgpack-c found a value in no bytes") }
        let value = Ref(result.data, input: base)
        let library = Result { () throws(MessagePackError) in try MessagePackValue(referenceObject: result.data) }
        return ReferenceRun(verdict: .success(end: off), value: value, libraryValue: library)
    }
    let verdict: CVerdict
    switch ret {
    case MSGPACK_UNPACK_CONTINUE: verdict = .incomplete
    case MSGPACK_UNPACK_PARSE_ERROR: verdict = .parseError(at: off)
    case MSGPACK_UNPACK_NOMEM_ERROR: verdict = .depthNomem(at: off)
    default: fail("msgpack_unpack_next returned \(ret.rawValue), which it never should")
    }
    return ReferenceRun(verdict: verdict, value: nil, libraryValue: nil)
}

/// Whether the Swift reader's value is exactly msgpack-c's: integers by value (msgpack-c
/// classifies by sign), floats by bit pattern, strings and bytes byte for byte, maps in order,
/// and type -1 only as a timestamp equal to msgpack-c's own reading of it.
func same(_ v: MessagePackValue, _ r: Ref) -> Bool {
    switch (v, r) {
    case (.nil, .nil): return true
    case let (.bool(a), .bool(b)): return a == b
    case let (.uint(a), .positive(b)): return a == b
    case let (.int(a), .positive(b)): return a >= 0 && UInt64(a) == b
    case let (.int(a), .negative(b)): return a == b
    case let (.float(a), .float32(bits)):
        let b = Double(bitPattern: bits)
        return Double(a).bitPattern == bits || (a.isNaN && b.isNaN)
    case let (.double(a), .float64(bits)): return a.bitPattern == bits
    case let (.string(a), .string(b, _)): return a.utf8.elementsEqual(b)
    case let (.binary(a), .binary(b)): return a.elementsEqual(b)
    case let (.extension(t, d), .ext(u, e, _, _)): return t != -1 && t == u && d.elementsEqual(e)
    case let (.timestamp(s, n), .ext(-1, _, _, t?)): return s == t.seconds && n == t.nanoseconds
    case let (.array(a), .array(b)): return a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
    case let (.map(a), .map(b)):
        return a.count == b.count && zip(a, b).allSatisfy { same($0.key, $1.key) && same($0.value, $1.value) }
    default: return false
    }
}

/// Equality of two Swift values, stricter than `==`: floats by bit pattern, strings byte for
/// byte (not by canonical equivalence); integers by value. With `anyFloat32NaN`, two float32
/// NaNs are equal: msgpack-c widens float32 to double, which makes a signaling NaN quiet.
func identical(_ a: MessagePackValue, _ b: MessagePackValue, anyFloat32NaN: Bool = false) -> Bool {
    func same(_ x: MessagePackValue, _ y: MessagePackValue) -> Bool { identical(x, y, anyFloat32NaN: anyFloat32NaN) }
    switch (a, b) {
    case let (.float(x), .float(y)) where anyFloat32NaN && x.isNaN && y.isNaN: return true
    case (.nil, .nil): return true
    case let (.bool(x), .bool(y)): return x == y
    case (.int, .int), (.int, .uint), (.uint, .int), (.uint, .uint): return a == b
    case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
    case let (.double(x), .double(y)): return x.bitPattern == y.bitPattern
    case let (.string(x), .string(y)): return x.utf8.elementsEqual(y.utf8)
    case let (.binary(x), .binary(y)): return x == y
    case let (.extension(t, d), .extension(u, e)): return t == u && d == e
    case let (.timestamp(s, n), .timestamp(t, m)): return s == t && n == m
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    case let (.map(x), .map(y)):
        return x.count == y.count && zip(x, y).allSatisfy { same($0.key, $1.key) && same($0.value, $1.value) }
    default: return false
    }
}
