import FoundationEssentials
import MessagePack

/// The Swift error codes that agree with each msgpack-c outcome. UTF-8 and timestamp bodies
/// are checked by the Swift reader only (msgpack-c hands them over as raw bytes), so those two
/// codes agree with any outcome, for a value msgpack-c read before it stopped.
func swiftCodes(agreeingWith c: CVerdict, count n: Int) -> Set<MessagePackError.Code> {
    let swiftOnly: Set<MessagePackError.Code> = [.invalidUTF8, .invalidTimestamp]
    switch c {
    case .success(let end) where end == n:
        return swiftOnly
    case .success:
        // msgpack_unpack's EXTRA_BYTES: a whole value, then more bytes.
        return swiftOnly.union([.trailingBytes])
    case .incomplete:
        // CONTINUE: a header or body runs past the end; Swift sees a declared size that cannot
        // fit at the header, msgpack-c waits for bytes that never come.
        return swiftOnly.union([.truncated, .lengthExceedsInput])
    case .parseError:
        // PARSE_ERROR: 0xc1, unless Swift already refused a container whose declared count
        // cannot fit; or an ext32 declaring 0xffffffff bytes (truncated or too long for Swift).
        return swiftOnly.union([.reservedByte, .lengthExceedsInput, .truncated])
    case .depthNomem:
        // NOMEM_ERROR: a 33rd nested container, unless a declared count was refused before.
        return swiftOnly.union([.depthExceeded, .lengthExceedsInput])
    }
}

/// The `MessagePackError` inside a `DecodingError.dataCorrupted`, as `MessagePackDecoder`
/// reports bad bytes.
func messagePackError(in error: any Error) -> MessagePackError? {
    guard let d = error as? DecodingError, case .dataCorrupted(let context) = d else { return nil }
    return context.underlyingError as? MessagePackError
}

/// Checks every whole-value reader on `input` against msgpack-c's verdict on the same bytes
/// and against `Model`. Returns the value when `input` is exactly one valid value.
func checkValueReaders(_ input: UnsafeRawBufferPointer, model: Model) -> MessagePackValue? {
    let n = input.count
    let reference = model.allocation <= referenceAllocationBudget ? unpackWithMsgpackC(input) : nil
    if let reference {
        check(reference.verdict == model.c, "msgpack-c says \(reference.verdict) where the model of it predicts \(model.c)")
    }
    let c = reference?.verdict ?? model.c
    let cName = reference == nil ? "msgpack-c (predicted: it would allocate \(model.allocation) bytes)" : "msgpack-c"
    let refValue = reference?.value
    let violation = refValue?.firstSwiftOnlyViolation

    // 1. The condition of the issue: the same value from both, or both reject.
    let swift = Result { () throws(MessagePackError) in try MessagePackValue(unpacking: input) }
    var accepted: MessagePackValue?
    switch swift {
    case .success(let v):
        check(c == .success(end: n), "the Swift reader accepts \(v) but \(cName) says \(c)")
        if let refValue {
            check(violation == nil, "the Swift reader accepts \(v) but msgpack-c's value \(refValue) has \(violation!.code) at body offset \(violation!.body)")
            check(same(v, refValue), "values differ: the Swift reader gives \(v), msgpack-c gives \(refValue)")
        }
        check(model.any == nil, "the Swift reader accepts \(v) where the model expects \(model.any!)")
        accepted = v
    case .failure(let e):
        if c == .success(end: n), let refValue, violation == nil {
            fail("msgpack-c accepts \(refValue) but the Swift reader throws \(e)")
        }
        check(swiftCodes(agreeingWith: c, count: n).contains(e.code), "the Swift reader throws \(e), which does not agree with \(cName) \(c)")
        // msgpack-c read a whole first value: Swift must name what is wrong in it, or the trailing bytes.
        if case .success(let end) = c, refValue != nil {
            if let violation {
                check(e.code == violation.code && e.offset < violation.body && e.offset >= violation.body - 6,
                      "the Swift reader throws \(e); msgpack-c's value has \(violation.code) with its body at \(violation.body)")
            } else {
                check(e.code == .trailingBytes && e.offset == end, "the Swift reader throws \(e); msgpack-c read a value of \(end) of \(n) bytes")
            }
        }
        guard let expected = model.unpackingError(count: n) else { fail("the Swift reader throws \(e) where the model expects a value") }
        check(expected.matches(e), "the Swift reader throws \(e), expected \(expected)")
    }

    // 2. The library's conversion of msgpack-c objects (behind referenceUnpacking) on the same object.
    if let refValue, let library = reference?.libraryValue {
        switch (library, violation) {
        case (.success(let v), nil):
            check(same(v, refValue), "MessagePackValue(referenceObject:) gives \(v), msgpack-c built \(refValue)")
        case (.failure(let e), let violation?):
            check(e.code == violation.code, "MessagePackValue(referenceObject:) throws \(e), expected \(violation.code)")
        case (.success(let v), let violation?):
            fail("MessagePackValue(referenceObject:) accepts \(v) though it has \(violation.code)")
        case (.failure(let e), nil):
            fail("MessagePackValue(referenceObject:) throws \(e) on \(refValue)")
        }
    }

    // 3. The structural check alone (a router's way to find where an envelope ends).
    switch Result(catching: { () throws(MessagePackError) in try MessagePackValue.length(ofFirstValueIn: input) }) {
    case .success(let length):
        check(model.structural == nil && model.end == length, "length(ofFirstValueIn:) says \(length), expected \(model.structural.map(\.description) ?? "\(c)")")
        if case .success(let end) = c { check(length == end, "length(ofFirstValueIn:) says \(length), msgpack-c read \(end) bytes") }
    case .failure(let e):
        guard let expected = model.structural else { fail("length(ofFirstValueIn:) throws \(e) where msgpack-c says \(c)") }
        check(expected.matches(e), "length(ofFirstValueIn:) throws \(e), expected \(expected)")
    }

    // 4. The Codable path to the same value, whole and as a prefix.
    do {
        let v = try MessagePackDecoder().decode(MessagePackValue.self, from: input)
        guard let accepted, identical(v, accepted) else { fail("MessagePackDecoder gives \(v) where MessagePackValue(unpacking:) gives \(swift)") }
    } catch {
        check(accepted == nil, "MessagePackDecoder throws \(error) on a valid value")
        let expected = model.decoderStructuralError(count: n) ?? model.any
        guard let expected, let mp = messagePackError(in: error), expected.matches(mp) else {
            fail("MessagePackDecoder throws \(error), expected \(String(describing: expected))")
        }
    }
    do {
        let (v, count) = try MessagePackDecoder().decodePrefix(MessagePackValue.self, from: input)
        check(model.structural == nil && model.any == nil && model.end == count, "decodePrefix reads \(count) bytes as \(v); expected \(String(describing: model.any))")
        if let refValue { check(same(v, refValue), "decodePrefix gives \(v), msgpack-c gives \(refValue)") }
    } catch {
        // Its first pass checks structure only; then the value is built.
        let expected = model.structural ?? model.any
        guard let expected, let mp = messagePackError(in: error), expected.matches(mp) else {
            fail("decodePrefix throws \(error), expected \(String(describing: model.structural ?? model.any))")
        }
    }

    // 5. A smaller depth limit (1...31, from the last byte) for every Swift reader.
    checkDepthLimit(1 + Int(input.last ?? 0) % 31, input, accepted: accepted)

    // 6. A valid value re-encodes to bytes that both decoders read back unchanged.
    if let accepted { checkReencoding(accepted) }
    return accepted
}

/// The Swift readers with `maxDepth: depth` against `Model` with the same limit.
func checkDepthLimit(_ depth: Int, _ input: UnsafeRawBufferPointer, accepted: MessagePackValue?) {
    let n = input.count
    let model = Model(input, swiftMaxDepth: depth)
    switch Result(catching: { () throws(MessagePackError) in try MessagePackValue(unpacking: input, maxDepth: depth) }) {
    case .success(let v):
        check(model.unpackingError(count: n) == nil, "with maxDepth \(depth) the Swift reader accepts \(v), expected \(model.unpackingError(count: n)!)")
        guard let accepted, identical(v, accepted) else { fail("with maxDepth \(depth) the Swift reader gives \(v), with 32 \(String(describing: accepted))") }
    case .failure(let e):
        guard let expected = model.unpackingError(count: n) else { fail("with maxDepth \(depth) the Swift reader throws \(e) where the model expects a value") }
        check(expected.matches(e), "with maxDepth \(depth) the Swift reader throws \(e), expected \(expected)")
    }
    switch Result(catching: { () throws(MessagePackError) in try MessagePackValue.length(ofFirstValueIn: input, maxDepth: depth) }) {
    case .success(let length):
        check(model.structural == nil && model.end == length, "with maxDepth \(depth) length(ofFirstValueIn:) says \(length), expected \(String(describing: model.structural))")
    case .failure(let e):
        guard let expected = model.structural, expected.matches(e) else {
            fail("with maxDepth \(depth) length(ofFirstValueIn:) throws \(e), expected \(String(describing: model.structural))")
        }
    }
    do {
        let v = try MessagePackDecoder(options: .init(maxDepth: depth)).decode(MessagePackValue.self, from: input)
        check(model.unpackingError(count: n) == nil, "with maxDepth \(depth) MessagePackDecoder gives \(v), expected \(model.unpackingError(count: n)!)")
    } catch {
        let expected = model.decoderStructuralError(count: n) ?? model.any
        guard let expected, let mp = messagePackError(in: error), expected.matches(mp) else {
            fail("with maxDepth \(depth) MessagePackDecoder throws \(error), expected \(String(describing: expected))")
        }
    }
}

/// `value.packed()` (msgpack-c's packer) reads back identically through the Swift reader and
/// through msgpack-c (`referenceUnpacking`), and MessagePackEncoder writes the same bytes.
func checkReencoding(_ value: MessagePackValue) {
    let bytes = value.packed()
    bytes.withUnsafeBytes { raw in
        let model = Model(raw)
        check(model.unpackingError(count: raw.count) == nil, "packed() of \(value) gives invalid bytes \(hex(bytes)): \(model.unpackingError(count: raw.count)!)")
        switch Result(catching: { () throws(MessagePackError) in try MessagePackValue(unpacking: raw) }) {
        case .success(let back): check(identical(back, value), "\(value) packs to \(hex(bytes)), which reads back as \(back)")
        case .failure(let e): fail("\(value) packs to \(hex(bytes)), which the Swift reader refuses: \(e)")
        }
        switch Result(catching: { () throws(MessagePackError) in try MessagePackValue(referenceUnpacking: raw) }) {
        case .success(let back): check(identical(back, value, anyFloat32NaN: true), "\(value) packs to \(hex(bytes)), which msgpack-c reads back as \(back)")
        case .failure(let e): fail("\(value) packs to \(hex(bytes)), which referenceUnpacking refuses: \(e)")
        }
    }
    do {
        let encoded = try MessagePackEncoder().encode(value)
        check(encoded == bytes, "MessagePackEncoder writes \(hex(encoded)) for \(value), packed() writes \(hex(bytes))")
    } catch {
        fail("MessagePackEncoder cannot encode \(value): \(error)")
    }
}
