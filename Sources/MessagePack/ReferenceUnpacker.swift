import CMsgPack
import FoundationEssentials

extension MessagePackValue {
    /// Parses exactly one value with msgpack-c's unpacker, the reference implementation the
    /// Swift reader is fuzzed against.
    ///
    /// msgpack-c 4.0 has two hazards (NOTES-linux.md): it allocates declared element counts
    /// before any element arrives, and it reads out of bounds if used after a parse error. So
    /// the bytes first pass the Swift structural check (declared sizes against the bytes
    /// present, the depth limit), and the unpacker is called once per input. Strings are
    /// validated as UTF-8 and timestamps checked as the Swift reader does.
    public init(referenceUnpacking bytes: UnsafeRawBufferPointer, maxDepth: Int = MessagePackLimits.defaultMaxDepth) throws(MessagePackError) {
        let reader = ByteReader(bytes, maxDepth: maxDepth)
        let end = try reader.skip(at: 0)
        guard end == bytes.count else {
            throw MessagePackError(.trailingBytes, at: end, "\(bytes.count - end) bytes follow the value")
        }
        var result = msgpack_unpacked()
        msgpack_unpacked_init(&result)
        defer { msgpack_unpacked_destroy(&result) }
        var offset = 0
        let ret = msgpack_unpack_next(&result, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, &offset)
        guard ret == MSGPACK_UNPACK_SUCCESS else {
            throw MessagePackError(.referenceDecoderFailed, at: offset, "msgpack_unpack_next returned \(ret.rawValue) on input the Swift reader accepted")
        }
        guard offset == bytes.count else {
            throw MessagePackError(.referenceDecoderFailed, at: offset, "msgpack-c consumed \(offset) of \(bytes.count) bytes")
        }
        self = try MessagePackValue(cObject: result.data, path: 0)
    }

    /// Converts an object msgpack-c's unpacker built, exactly as ``init(referenceUnpacking:maxDepth:)``
    /// does, without the structural guard: for the differential fuzz target (Fuzz/), which calls
    /// `msgpack_unpack_next` itself, once, on raw input. `object` must come from a successful
    /// unpack whose input bytes and zone are still alive. Strings are validated as UTF-8 and
    /// timestamps checked as the Swift reader does.
    @_spi(Fuzzing) public init(referenceObject object: msgpack_object) throws(MessagePackError) {
        try self.init(cObject: object, path: 0)
    }

    private init(cObject o: msgpack_object, path offset: Int) throws(MessagePackError) {
        switch o.type {
        case MSGPACK_OBJECT_NIL: self = .nil
        case MSGPACK_OBJECT_BOOLEAN: self = .bool(o.via.boolean)
        case MSGPACK_OBJECT_POSITIVE_INTEGER: self = .uint(o.via.u64)
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: self = .int(o.via.i64)
        case MSGPACK_OBJECT_FLOAT32: self = .float(Float(o.via.f64))
        case MSGPACK_OBJECT_FLOAT64: self = .double(o.via.f64)
        case MSGPACK_OBJECT_STR:
            let raw = UnsafeRawBufferPointer(start: o.via.str.ptr, count: Int(o.via.str.size))
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw MessagePackError(.invalidUTF8, at: offset, "msgpack-c string of \(o.via.str.size) bytes is not valid UTF-8")
            }
            self = .string(s)
        case MSGPACK_OBJECT_BIN:
            self = .binary(Data(UnsafeRawBufferPointer(start: o.via.bin.ptr, count: Int(o.via.bin.size))))
        case MSGPACK_OBJECT_EXT:
            let data = Data(UnsafeRawBufferPointer(start: o.via.ext.ptr, count: Int(o.via.ext.size)))
            if o.via.ext.type == -1 {
                var ts = msgpack_timestamp()
                var object = o
                guard msgpack_object_to_timestamp(&object, &ts) else {
                    throw MessagePackError(.invalidTimestamp, at: offset, "msgpack-c rejects a timestamp of \(data.count) bytes")
                }
                guard ts.tv_nsec < 1_000_000_000 else {
                    throw MessagePackError(.invalidTimestamp, at: offset, "timestamp nanoseconds \(ts.tv_nsec) are not below 1e9")
                }
                self = .timestamp(seconds: ts.tv_sec, nanoseconds: ts.tv_nsec)
            } else {
                self = .extension(type: o.via.ext.type, data: data)
            }
        case MSGPACK_OBJECT_ARRAY:
            var elements: [MessagePackValue] = []
            let n = Int(o.via.array.size)
            elements.reserveCapacity(n)
            for i in 0..<n { elements.append(try MessagePackValue(cObject: o.via.array.ptr[i], path: offset)) }
            self = .array(elements)
        case MSGPACK_OBJECT_MAP:
            var entries: [(key: MessagePackValue, value: MessagePackValue)] = []
            let n = Int(o.via.map.size)
            for i in 0..<n {
                let kv = o.via.map.ptr[i]
                entries.append((try MessagePackValue(cObject: kv.key, path: offset), try MessagePackValue(cObject: kv.val, path: offset)))
            }
            self = .map(entries)
        default:
            throw MessagePackError(.referenceDecoderFailed, at: offset, "msgpack-c object type \(o.type.rawValue) is unknown")
        }
    }
}
