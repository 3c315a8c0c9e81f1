import FoundationEssentials
import MessagePack

// (4) MessagePackReader, the header-level reader: on any input it must never trap, every read
// either moves forward within the input or throws a MessagePackError at or after the cursor
// and leaves the cursor where it was, and its whole-value reads agree with the value readers.

func checkHeaderReader(_ input: UnsafeRawBufferPointer, value: MessagePackValue?) {
    checkSkip(input)
    walkTokens(input)
    if let value {
        var reader = MessagePackReader(input)
        let rebuilt = Result { () throws(MessagePackError) in try rebuild(&reader) }
        switch rebuilt {
        case .success(let tree):
            check(identical(tree, value, anyFloat32NaN: true), "MessagePackReader's header walk builds \(tree), MessagePackValue(unpacking:) gives \(value)")
            check(reader.isAtEnd, "MessagePackReader's header walk of a valid value stops at \(reader.offset) of \(input.count)")
        case .failure(let e):
            fail("MessagePackReader's header walk throws \(e) on the valid value \(value)")
        }
        var whole = MessagePackReader(input)
        switch Result(catching: { () throws(MessagePackError) in try whole.readValue() }) {
        case .success(let v): check(identical(v, value) && whole.isAtEnd, "readValue gives \(v), expected \(value)")
        case .failure(let e): fail("readValue throws \(e) on the valid value \(value)")
        }
    }
}

/// `skipValue` and `readRawValue` are `length(ofFirstValueIn:)`: the same end, or the same error.
private func checkSkip(_ input: UnsafeRawBufferPointer) {
    let length = Result { () throws(MessagePackError) in try MessagePackValue.length(ofFirstValueIn: input) }
    var reader = MessagePackReader(input)
    let skipped = Result { () throws(MessagePackError) -> Int in try reader.skipValue(); return reader.offset }
    switch (skipped, length) {
    case (.success(let end), .success(let expected)):
        check(end == expected, "skipValue ends at \(end), length(ofFirstValueIn:) says \(expected)")
    case (.failure(let e), .failure(let expected)):
        check(e == expected, "skipValue throws \(e), length(ofFirstValueIn:) throws \(expected)")
        check(reader.offset == 0, "a failed skipValue moved the cursor to \(reader.offset)")
    default:
        fail("skipValue gives \(skipped), length(ofFirstValueIn:) gives \(length)")
    }
    var raw = MessagePackReader(input)
    if case .success(let end) = length {
        switch Result(catching: { () throws(MessagePackError) in try raw.readRawValue() }) {
        case .success(let bytes):
            check(bytes.count == end && (end == 0 || bytes.baseAddress == input.baseAddress), "readRawValue gives \(bytes.count) bytes, expected the first \(end)")
        case .failure(let e):
            fail("readRawValue throws \(e) where length(ofFirstValueIn:) says \(end)")
        }
    }
}

/// Reads the input token by token (a header or a scalar at a time, as a protocol parser does)
/// until its end or the first error, trying a read of the wrong type before each right one.
private func walkTokens(_ input: UnsafeRawBufferPointer) {
    var reader = MessagePackReader(input)
    while !reader.isAtEnd {
        let at = reader.offset
        let type: MessagePackType
        do { type = try reader.peekType() } catch {
            check(error.code == .reservedByte && error.offset == at, "peekType at \(at) throws \(error)")
            return
        }
        // The wrong type: a typed error at the value's first byte, and the cursor stays.
        let wrong = Result { () throws(MessagePackError) in type == .nil ? _ = try reader.readBool() : try reader.readNil() }
        guard case .failure(let mismatch) = wrong, mismatch.code == .typeMismatch || mismatch.code == .truncated || mismatch.code == .lengthExceedsInput,
              mismatch.offset >= at, reader.offset == at else {
            fail("reading \(type) at \(at) as the wrong type gives \(wrong), cursor \(reader.offset)")
        }
        let read = Result { () throws(MessagePackError) in try readToken(type, &reader, input) }
        switch read {
        case .success:
            check(reader.offset > at && reader.offset <= input.count, "reading \(type) at \(at) moved the cursor to \(reader.offset) of \(input.count)")
        case .failure(let e):
            check(reader.offset == at, "a failed read of \(type) at \(at) moved the cursor to \(reader.offset)")
            check(e.offset >= at && e.offset <= input.count, "reading \(type) at \(at) throws \(e), outside the value")
            check([.truncated, .lengthExceedsInput, .invalidUTF8, .invalidTimestamp, .reservedByte, .depthExceeded].contains(e.code),
                  "reading \(type) at \(at) throws \(e)")
            return
        }
    }
}

private func readToken(_ type: MessagePackType, _ reader: inout MessagePackReader, _ input: UnsafeRawBufferPointer) throws(MessagePackError) {
    let at = reader.offset
    switch type {
    case .nil: try reader.readNil()
    case .bool: _ = try reader.readBool()
    case .unsignedInteger, .signedInteger:
        var narrow = reader
        do { _ = try narrow.readInteger(UInt8.self) } catch {
            check(error.offset >= at && narrow.offset == at, "readInteger(UInt8.self) at \(at) throws \(error), cursor \(narrow.offset)")
        }
        if type == .unsignedInteger { _ = try reader.readUInt() } else { _ = try reader.readInt() }
    case .float32, .float64: _ = try reader.readDouble()
    case .string:
        var text = reader
        do { _ = try text.readString() } catch {
            check(error.offset >= at && text.offset == at, "readString at \(at) throws \(error), cursor \(text.offset)")
        }
        checkSlice(try reader.readStringBytes(), within: input, at: at)
    case .binary: checkSlice(try reader.readBinary(), within: input, at: at)
    case .array: _ = try reader.readArrayHeader()
    case .map: _ = try reader.readMapHeader()
    case .extension: try reader.skipValue()
    }
}

private func checkSlice(_ slice: UnsafeRawBufferPointer, within input: UnsafeRawBufferPointer, at: Int) {
    guard slice.count > 0 else { return }
    let start = slice.baseAddress! - input.baseAddress!
    check(start > at && start + slice.count <= input.count, "the slice read at \(at) is bytes \(start)..<\(start + slice.count) of \(input.count)")
}

/// A valid value read back through headers and scalars only.
private func rebuild(_ reader: inout MessagePackReader) throws(MessagePackError) -> MessagePackValue {
    switch try reader.peekType() {
    case .nil: try reader.readNil(); return .nil
    case .bool: return .bool(try reader.readBool())
    case .unsignedInteger: return .uint(try reader.readUInt())
    case .signedInteger: return .int(try reader.readInt())
    case .float32: return .float(Float(try reader.readDouble()))
    case .float64: return .double(try reader.readDouble())
    case .string: return .string(try reader.readString())
    case .binary: return .binary(Data(try reader.readBinary()))
    case .array:
        var elements: [MessagePackValue] = []
        for _ in 0..<(try reader.readArrayHeader()) { elements.append(try rebuild(&reader)) }
        return .array(elements)
    case .map:
        var entries: [(key: MessagePackValue, value: MessagePackValue)] = []
        for _ in 0..<(try reader.readMapHeader()) { entries.append((try rebuild(&reader), try rebuild(&reader))) }
        return .map(entries)
    case .extension: return try reader.readValue()
    }
}
