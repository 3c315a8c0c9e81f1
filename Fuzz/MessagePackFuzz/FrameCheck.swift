import FoundationEssentials
import MessagePack

/// One thing a frame reader reports, and how many bytes had been appended when it did.
struct FrameEvent: Equatable, CustomStringConvertible {
    enum Kind: Equatable {
        case frame([UInt8])
        /// A stream error (`frameTooLarge`): the code's name and the offset.
        case failure(String, Int)
        /// A frame that did not decode (`next(_:)`): the stream goes on.
        case undecodable
        case value(MessagePackValue)

        static func == (a: Kind, b: Kind) -> Bool {
            switch (a, b) {
            case let (.frame(x), .frame(y)): x == y
            case let (.failure(c, o), .failure(d, p)): c == d && o == p
            case (.undecodable, .undecodable): true
            case let (.value(x), .value(y)): identical(x, y)
            default: false
            }
        }
    }
    var kind: Kind
    /// Bytes appended when the reader reported it; for expected events, the fewest that suffice.
    var seenAt: Int

    static func == (a: FrameEvent, b: FrameEvent) -> Bool { a.kind == b.kind }

    var description: String {
        switch kind {
        case .frame(let b): "frame(\(hex(b)))@\(seenAt)"
        case .failure(let code, let offset): "\(code)(at \(offset))@\(seenAt)"
        case .undecodable: "undecodable@\(seenAt)"
        case .value(let v): "value(\(v))@\(seenAt)"
        }
    }
}

/// Everything a reader reported on a stream: events in order, then `finish()`.
struct FrameOutcome: Equatable {
    var events: [FrameEvent] = []
    /// `finish()`'s error as (code name, offset), nil when the stream ended at a boundary.
    var finish: FrameEvent.Kind?
    /// `bufferedByteCount` at the end, unless the stream failed.
    var buffered: Int?
}

/// The framing of `stream` worked out directly: a 4-byte big-endian length, that many bytes;
/// a length above `maxFrameSize` ends the stream at its header.
func expectedFrames(_ stream: [UInt8], maxFrameSize: Int) -> FrameOutcome {
    var outcome = FrameOutcome()
    var i = 0
    while true {
        if stream.count - i < 4 {
            outcome.finish = stream.count == i ? nil : .failure("truncated", stream.count)
            outcome.buffered = stream.count - i
            return outcome
        }
        let length = Int(stream[i]) << 24 | Int(stream[i + 1]) << 16 | Int(stream[i + 2]) << 8 | Int(stream[i + 3])
        if length > maxFrameSize {
            outcome.events.append(FrameEvent(kind: .failure("frameTooLarge", i), seenAt: i + 4))
            outcome.finish = .failure("frameTooLarge", i)
            return outcome
        }
        if stream.count - i - 4 < length {
            outcome.finish = .failure("truncated", stream.count)
            // The reader has taken the header already: only body bytes count as buffered.
            outcome.buffered = stream.count - i - 4
            return outcome
        }
        outcome.events.append(FrameEvent(kind: .frame(Array(stream[i + 4 ..< i + 4 + length])), seenAt: i + 4 + length))
        i += 4 + length
    }
}

/// Feeds `stream` to a `FrameReader` in chunks of `sizes` (cycled; 0 appends nothing), taking
/// every whole frame after each append, with `nextFrame()` or, when `decode`, `next(_:)`.
func readFrames(_ stream: [UInt8], chunkSizes sizes: [Int], maxFrameSize: Int, decode: Bool = false) -> FrameOutcome {
    var reader = FrameReader(maxFrameSize: maxFrameSize)
    var outcome = FrameOutcome()
    var failure: MessagePackError?
    var appended = 0
    func drain() {
        while failure == nil {
            do {
                if decode {
                    do {
                        guard let v = try reader.next(MessagePackValue.self) else { return }
                        outcome.events.append(FrameEvent(kind: .value(v), seenAt: appended))
                    } catch is DecodingError {
                        outcome.events.append(FrameEvent(kind: .undecodable, seenAt: appended))
                    }
                } else {
                    guard let frame = try reader.nextFrame() else { return }
                    outcome.events.append(FrameEvent(kind: .frame(frame), seenAt: appended))
                }
            } catch let error as MessagePackError {
                outcome.events.append(FrameEvent(kind: .failure(error.code.name, error.offset), seenAt: appended))
                failure = error
                // The framing is lost: every later call throws the same error.
                do {
                    _ = try reader.nextFrame()
                    fail("FrameReader reads on after \(error)")
                } catch {
                    check((error as? MessagePackError) == failure, "FrameReader throws \(error) after \(failure!)")
                }
            } catch {
                fail("FrameReader throws \(error), neither a MessagePackError nor a DecodingError")
            }
        }
    }
    var i = 0
    var k = 0
    while i < stream.count {
        let size = min(sizes[k % sizes.count], stream.count - i)
        if k % 2 == 0 {
            reader.append(stream[i ..< i + size])
        } else {
            stream.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[i ..< i + size])) }
        }
        k += 1
        i += size
        appended = i
        drain()
    }
    drain()
    do {
        try reader.finish()
    } catch let error as MessagePackError {
        outcome.finish = .failure(error.code.name, error.offset)
    } catch {
        fail("FrameReader.finish() throws \(error), not a MessagePackError")
    }
    if failure == nil { outcome.buffered = reader.bufferedByteCount }
    return outcome
}

/// Compares what a reader reported with what it should have, including when: each event at
/// the first append after which it was possible, neither earlier nor later.
func checkFrameOutcome(_ got: FrameOutcome, _ expected: FrameOutcome, streamLength: Int, chunkSizes: [Int], what: String) {
    check(got == expected, "FrameReader (\(what), chunks \(chunkSizes)) reports \(got.events), finish \(String(describing: got.finish)), \(String(describing: got.buffered)) buffered; expected \(expected.events), finish \(String(describing: expected.finish)), \(String(describing: expected.buffered)) buffered")
    let boundaries = chunkBoundaries(total: streamLength, chunkSizes)
    for (g, e) in zip(got.events, expected.events) {
        let firstBoundary = boundaries.first { $0 >= e.seenAt } ?? e.seenAt
        check(g.seenAt == firstBoundary, "FrameReader (\(what), chunks \(chunkSizes)) reports \(g) after \(g.seenAt) bytes; it was whole after \(firstBoundary)")
    }
}

/// The appended byte counts after each chunk, up to `total`.
private func chunkBoundaries(total: Int, _ sizes: [Int]) -> [Int] {
    var out: [Int] = []
    var i = 0
    var k = 0
    while i < total {
        i += sizes[k % sizes.count]
        k += 1
        out.append(min(i, total))
    }
    return out
}

/// Reads the input as a frame stream (and a stream built from it) one-shot, in chunks whose
/// sizes come from its first bytes, and a byte at a time; all must agree with the framing
/// worked out directly, and decoded frames with `MessagePackValue(unpacking:)` on each body.
func checkFrames(_ input: UnsafeRawBufferPointer, value: MessagePackValue?) {
    let bytes = Array(input)
    // Chunk sizes 0...32 from the first eight bytes; a small maximum frame size when the first
    // byte's top bit is set, so that frameTooLarge is reached.
    var sizes = bytes.prefix(8).map { Int($0) % 33 }
    if !sizes.contains(where: { $0 > 0 }) { sizes = [1] }
    let control = bytes.first ?? 0
    let maxFrameSize = control & 0x80 != 0 ? Int(control & 0x3f) : MessagePackLimits.defaultMaxFrameSize

    // The raw input as a stream.
    let raw = expectedFrames(bytes, maxFrameSize: maxFrameSize)
    let whole = [max(bytes.count, 1)]
    checkFrameOutcome(readFrames(bytes, chunkSizes: whole, maxFrameSize: maxFrameSize), raw, streamLength: bytes.count, chunkSizes: whole, what: "one-shot")
    checkFrameOutcome(readFrames(bytes, chunkSizes: sizes, maxFrameSize: maxFrameSize), raw, streamLength: bytes.count, chunkSizes: sizes, what: "chunked")
    if bytes.count <= 512 {
        checkFrameOutcome(readFrames(bytes, chunkSizes: [1], maxFrameSize: maxFrameSize), raw, streamLength: bytes.count, chunkSizes: [1], what: "byte at a time")
    }
    checkFrameOutcome(readFrames(bytes, chunkSizes: sizes, maxFrameSize: maxFrameSize, decode: true),
                      decodedExpectation(raw), streamLength: bytes.count, chunkSizes: sizes, what: "chunked, decoding")

    // A well-framed stream of the input, two pieces of it and an empty frame.
    var stream: [UInt8] = []
    for body in [bytes, Array(bytes.prefix(bytes.count / 2)), [], Array(bytes.suffix(bytes.count / 3))] {
        let n = UInt32(body.count)
        stream += [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + body
    }
    checkFrameWriter(stream, bodies: [bytes, Array(bytes.prefix(bytes.count / 2)), [], Array(bytes.suffix(bytes.count / 3))], value: value)
    let framed = expectedFrames(stream, maxFrameSize: MessagePackLimits.defaultMaxFrameSize)
    check(framed.events.count == 4 && framed.finish == nil, "the framing model splits a well-framed stream into \(framed.events)")
    checkFrameOutcome(readFrames(stream, chunkSizes: sizes, maxFrameSize: MessagePackLimits.defaultMaxFrameSize), framed, streamLength: stream.count, chunkSizes: sizes, what: "framed input, chunked")
    checkFrameOutcome(readFrames(stream, chunkSizes: sizes, maxFrameSize: MessagePackLimits.defaultMaxFrameSize, decode: true),
                      decodedExpectation(framed), streamLength: stream.count, chunkSizes: sizes, what: "framed input, chunked, decoding")
}

/// The events `next(MessagePackValue.self)` should give: each body decoded on its own.
private func decodedExpectation(_ framed: FrameOutcome) -> FrameOutcome {
    var out = framed
    out.events = framed.events.map { event in
        guard case .frame(let body) = event.kind else { return event }
        let value = body.withUnsafeBytes { try? MessagePackValue(unpacking: $0) }
        return FrameEvent(kind: value.map { .value($0) } ?? .undecodable, seenAt: event.seenAt)
    }
    return out
}

/// FrameWriter writes the same stream from the raw bodies, and a valid value as a frame whose
/// body is its packed bytes; a small maximum refuses a frame and leaves the buffer as it was.
private func checkFrameWriter(_ stream: [UInt8], bodies: [[UInt8]], value: MessagePackValue?) {
    var writer = FrameWriter()
    for body in bodies {
        do { try body.withUnsafeBytes { try writer.append(body: $0) } } catch { fail("FrameWriter.append(body:) throws \(error)") }
    }
    let written = writer.take()
    check(written == stream, "FrameWriter.append(body:) writes \(hex(written)), expected \(hex(stream))")
    guard let value else { return }
    let packed = value.packed()
    do { try writer.append(value) } catch { fail("FrameWriter.append(\(value)) throws \(error)") }
    let n = packed.count
    let frame = writer.take()
    check(frame == [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + packed,
          "FrameWriter.append(\(value)) writes \(hex(frame)), expected the length and \(hex(packed))")
    var small = FrameWriter(maxFrameSize: n - 1)
    do {
        try small.append(value)
        if n > 0 { fail("FrameWriter(maxFrameSize: \(n - 1)) accepts a frame of \(n) bytes") }
    } catch let error as MessagePackError {
        check(error.code == .frameTooLarge && small.count == 0, "FrameWriter(maxFrameSize: \(n - 1)) throws \(error) and keeps \(small.count) bytes")
    } catch {
        fail("FrameWriter(maxFrameSize: \(n - 1)) throws \(error)")
    }
}
