import MessagePack

/// msgpack-c's verdict on one call of `msgpack_unpack_next(result, data, len, &off)` with
/// `off = 0`, observed or predicted.
///
/// `msgpack_unpack_next` never returns `MSGPACK_UNPACK_EXTRA_BYTES` (only the obsolete
/// `msgpack_unpack` does): a complete value followed by more bytes is `SUCCESS` with
/// `off < len`, which is `.success(end:)` with `end < len` here.
enum CVerdict: Equatable, CustomStringConvertible {
    /// `MSGPACK_UNPACK_SUCCESS`: one complete value ending at `end` (`*off`).
    case success(end: Int)
    /// `MSGPACK_UNPACK_CONTINUE`: the input ended inside the value.
    case incomplete
    /// `MSGPACK_UNPACK_PARSE_ERROR` with `*off`: the byte 0xc1, or an ext32 declaring
    /// 0xffffffff bytes (its length + 1 wraps to 0, which the ext callback refuses).
    case parseError(at: Int)
    /// `MSGPACK_UNPACK_NOMEM_ERROR` with `*off`: a 33rd nested container (its stack holds 32).
    case depthNomem(at: Int)

    var description: String {
        switch self {
        case .success(let end): "SUCCESS(off \(end))"
        case .incomplete: "CONTINUE"
        case .parseError(let at): "PARSE_ERROR(off \(at))"
        case .depthNomem(let at): "NOMEM_ERROR(off \(at))"
        }
    }
}

/// An error a Swift reader is expected to throw: its code, and the offsets it may name
/// (the header of the value at fault up to the start of its body).
struct ExpectedError: CustomStringConvertible {
    var code: MessagePackError.Code
    var lo: Int
    var hi: Int

    func matches(_ error: MessagePackError) -> Bool {
        error.code == code && error.offset >= lo && error.offset <= hi
    }

    var description: String { lo == hi ? "\(code) at \(lo)" : "\(code) at \(lo)...\(hi)" }
}

/// An independent walk over the bytes that models both readers before either runs:
///
/// - msgpack-c's state machine (unpack_template.h, 4.0.0): the same iterative stack of at most
///   32 open containers, the same order of checks, so `c` predicts `msgpack_unpack_next`'s
///   return and offset; `allocation` adds up what its zone would `malloc` for declared
///   element counts (24 bytes per array element, 48 per map entry, up to twice that for
///   chunk rounding) before any element arrives.
/// - The Swift reader's first error in reading order: `structural` is what
///   `length(ofFirstValueIn:)` and `MessagePackDecoder`'s first pass report (truncation, a
///   declared size larger than the bytes left, 0xc1, depth); `any` adds what only the Swift
///   reader checks when it builds values (UTF-8, timestamp bodies).
///
/// The walk needs no memory for declared counts, so it also gives msgpack-c's verdict on
/// inputs msgpack-c itself is not given (see `referenceAllocationBudget`); on every input
/// msgpack-c is given, its real verdict must equal this prediction.
struct Model {
    /// msgpack-c's `MSGPACK_EMBED_STACK_SIZE`, and the Swift reader's default depth limit.
    static let maxDepth = 32

    private(set) var c = CVerdict.incomplete
    private(set) var allocation = 0
    private(set) var structural: ExpectedError?
    private(set) var any: ExpectedError?

    /// Where the first value ends, when msgpack-c finds a complete one.
    var end: Int? { if case .success(let end) = c { end } else { nil } }

    private mutating func structural(_ code: MessagePackError.Code, _ lo: Int, _ hi: Int) {
        if structural == nil { structural = ExpectedError(code: code, lo: lo, hi: hi) }
        if any == nil { any = ExpectedError(code: code, lo: lo, hi: hi) }
    }

    private mutating func valueOnly(_ code: MessagePackError.Code, _ lo: Int, _ hi: Int) {
        if any == nil { any = ExpectedError(code: code, lo: lo, hi: hi) }
    }

    /// `swiftMaxDepth` (1...32) is the Swift readers' `maxDepth`; msgpack-c's limit is always 32.
    init(_ b: UnsafeRawBufferPointer, swiftMaxDepth: Int = Model.maxDepth) {
        precondition(swiftMaxDepth >= 1 && swiftMaxDepth <= Model.maxDepth)
        let n = b.count
        var p = 0
        // Elements still expected by each open container (two per map entry), as msgpack-c's stack.
        var open: [Int] = []
        open.reserveCapacity(Model.maxDepth)
        allocation = 0
        walk: while true {
            guard p < n else {
                structural(.truncated, p, p)
                c = .incomplete
                break walk
            }
            let h = b[p]
            var next: Int
            switch h {
            case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3:
                next = p + 1
            case 0xc1:
                structural(.reservedByte, p, p)
                c = .parseError(at: p)
                break walk
            case 0xca...0xd3:
                let width = 1 << Int(h & 3)
                guard n - (p + 1) >= width else {
                    structural(.truncated, p, n)
                    c = .incomplete
                    break walk
                }
                next = p + 1 + width
            case 0xa0...0xbf, 0xd9...0xdb, 0xc4...0xc6:
                let isString = h <= 0xbf || h >= 0xd9   // fixstr, str8/16/32; else bin8/16/32
                let width = h >= 0xa0 && h <= 0xbf ? 0 : (h >= 0xd9 ? 1 << Int(h - 0xd9) : 1 << Int(h - 0xc4))
                guard n - (p + 1) >= width else {
                    structural(.truncated, p, n)
                    c = .incomplete
                    break walk
                }
                let length = width == 0 ? Int(h & 0x1f) : Int(bigEndian(b, at: p + 1, width: width))
                let body = p + 1 + width
                guard n - body >= length else {
                    structural(.lengthExceedsInput, p, body)
                    c = .incomplete
                    break walk
                }
                if isString && !isWellFormedUTF8(UnsafeRawBufferPointer(rebasing: b[body..<body + length])) {
                    valueOnly(.invalidUTF8, p, body)
                }
                next = body + length
            case 0xc7...0xc9, 0xd4...0xd8:
                let width = h <= 0xc9 ? 1 << Int(h - 0xc7) : 0
                guard n - (p + 1) >= width else {
                    structural(.truncated, p, n)
                    c = .incomplete
                    break walk
                }
                let length = width == 0 ? 1 << Int(h - 0xd4) : Int(bigEndian(b, at: p + 1, width: width))
                let typeAt = p + 1 + width
                let body = typeAt + 1
                if h == 0xc9 && length == 0xffff_ffff {
                    // msgpack-c: trail = length + 1 wraps to 0 and its ext callback refuses a
                    // zero trail; *off is left on the last length byte.
                    structural(typeAt < n ? .lengthExceedsInput : .truncated, p, body)
                    c = .parseError(at: p + width)
                    break walk
                }
                guard typeAt < n else {
                    structural(.truncated, p, n)
                    c = .incomplete
                    break walk
                }
                guard n - body >= length else {
                    structural(.lengthExceedsInput, p, body)
                    c = .incomplete
                    break walk
                }
                if b[typeAt] == 0xff && !isValidTimestampBody(UnsafeRawBufferPointer(rebasing: b[body..<body + length])) {
                    valueOnly(.invalidTimestamp, p, body)
                }
                next = body + length
            case 0x80...0x9f, 0xdc...0xdf:
                let isMap = h <= 0x8f || h >= 0xde
                let width = h <= 0x9f ? 0 : (h == 0xdc || h == 0xde ? 2 : 4)
                guard n - (p + 1) >= width else {
                    structural(.truncated, p, n)
                    c = .incomplete
                    break walk
                }
                let count = width == 0 ? Int(h & 0x0f) : Int(bigEndian(b, at: p + 1, width: width))
                let body = p + 1 + width
                let elements = isMap ? 2 * count : count
                // Swift: every element takes at least one byte, so an array16/32 or map16/32
                // count the remaining bytes cannot hold is refused at the header (a fixarray or
                // fixmap, at most 15, runs into the end instead). msgpack-c carries on.
                if width > 0 && elements > n - body { structural(.lengthExceedsInput, p, p) }
                if open.count >= swiftMaxDepth { structural(.depthExceeded, p, p) }
                if open.count >= Model.maxDepth {
                    c = .depthNomem(at: body - 1)
                    break walk
                }
                let bytes = count * (isMap ? 48 : 24)
                allocation += (open.isEmpty ? 8192 : 0) + 2 * bytes
                if elements > 0 {
                    open.append(elements)
                    p = body
                    continue walk
                }
                next = body
            default:
                fatalError("unreachable header byte \(h)")
            }
            p = next
            // One element is complete: count it off, closing every container it completes.
            while true {
                guard let last = open.indices.last else {
                    c = .success(end: p)
                    break walk
                }
                open[last] -= 1
                if open[last] > 0 { continue walk }
                open.removeLast()
            }
        }
    }

    /// What `MessagePackValue(unpacking:)` must throw, or nil when it must succeed.
    func unpackingError(count n: Int) -> ExpectedError? {
        if let any { return any }
        if let end, end < n { return ExpectedError(code: .trailingBytes, lo: end, hi: end) }
        return nil
    }

    /// What `MessagePackDecoder.decode(_:from:)` must throw before it looks at the type:
    /// its first pass checks structure only, then trailing bytes.
    func decoderStructuralError(count n: Int) -> ExpectedError? {
        if let structural { return structural }
        if let end, end < n { return ExpectedError(code: .trailingBytes, lo: end, hi: end) }
        return nil
    }
}
