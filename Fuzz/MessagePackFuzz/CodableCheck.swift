import FoundationEssentials
import MessagePack

// Typed decoding of arbitrary bytes: it must fail cleanly (a DecodingError naming the first
// structural problem, as msgpack-c and Model see it) or give a value that re-encodes and
// decodes to the same value.

struct FuzzRecord: Codable {
    var id: Int
    var name: String
    var score: Double
    var note: String?
    var tags: [String]
    var inner: Inner
    var history: [Inner]?
    var kind: Kind
    var shape: Shape
    var when: Date
    var blob: Data
    var counts: [String: Int]?
    var ratio: Float?
    var small: Int8?
    var big: UInt64?

    struct Inner: Codable {
        var x: Int64
        var label: String?
        var flag: Bool
        var values: [Double]
    }

    enum Kind: String, Codable { case alpha, beta, gamma }

    /// An enum with associated values (Swift's synthesized Codable: `{"circle": {"radius": 1}}`).
    enum Shape: Codable {
        case point
        case circle(radius: Double)
        case rect(width: Int, height: Int)
        case label(String)
    }
}

// Equality that holds across a round trip: floats by bit pattern (NaN included), strings byte
// for byte, dates by their Double.

private func same(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }
private func same(_ a: String?, _ b: String?) -> Bool { a == nil ? b == nil : b.map { same(a!, $0) } ?? false }
private func same(_ a: Double, _ b: Double) -> Bool { a.bitPattern == b.bitPattern }

extension FuzzRecord.Inner {
    func same(_ o: Self) -> Bool {
        x == o.x && flag == o.flag && MessagePackFuzz.same(label, o.label)
            && values.count == o.values.count && zip(values, o.values).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}

extension FuzzRecord.Shape {
    func same(_ o: Self) -> Bool {
        switch (self, o) {
        case (.point, .point): true
        case let (.circle(a), .circle(b)): a.bitPattern == b.bitPattern
        case let (.rect(w, h), .rect(v, g)): w == v && h == g
        case let (.label(a), .label(b)): a.utf8.elementsEqual(b.utf8)
        default: false
        }
    }
}

extension FuzzRecord {
    func same(_ o: Self) -> Bool {
        id == o.id && MessagePackFuzz.same(name, o.name) && MessagePackFuzz.same(score, o.score)
            && MessagePackFuzz.same(note, o.note)
            && tags.count == o.tags.count && zip(tags, o.tags).allSatisfy { MessagePackFuzz.same($0, $1) }
            && inner.same(o.inner)
            && (history == nil ? o.history == nil : o.history.map { h in h.count == history!.count && zip(history!, h).allSatisfy { $0.same($1) } } ?? false)
            && kind == o.kind && shape.same(o.shape)
            && when.timeIntervalSinceReferenceDate.bitPattern == o.when.timeIntervalSinceReferenceDate.bitPattern
            && blob == o.blob && counts == o.counts
            && ratio?.bitPattern == o.ratio?.bitPattern && small == o.small && big == o.big
    }
}

/// A typed decode of `input` and what must follow from its outcome.
private func checkTyped<T: Decodable & Encodable>(_ type: T.Type, _ input: UnsafeRawBufferPointer, model: Model,
                                                   asArrays: Bool, same: (T, T) -> Bool,
                                                   expected: Result<T, Never>?? = .none, what: String) {
    let decoder = MessagePackDecoder(options: .init(structsAsArrays: asArrays))
    let encoder = MessagePackEncoder(options: .init(structsAsArrays: asArrays))
    let n = input.count
    let first: T
    do {
        first = try decoder.decode(T.self, from: input)
    } catch {
        check(error is DecodingError, "decoding \(what) throws \(error), not a DecodingError")
        if let structural = model.decoderStructuralError(count: n) {
            guard let mp = messagePackError(in: error), structural.matches(mp) else {
                fail("decoding \(what) throws \(error), expected \(structural)")
            }
        }
        if case .some(.some) = expected { fail("decoding \(what) throws \(error) where it should succeed") }
        return
    }
    check(model.decoderStructuralError(count: n) == nil && model.c == .success(end: n),
          "decoding \(what) succeeds on bytes msgpack-c reads as \(model.c) (\(String(describing: model.decoderStructuralError(count: n))))")
    if case .some(.some(.success(let e))) = expected {
        check(same(first, e), "decoding \(what) gives \(first), expected \(e)")
    } else if case .some(.none) = expected {
        fail("decoding \(what) gives \(first) where it should fail")
    }
    let bytes = encodeOrFail(first, encoder, what)
    // FrameWriter encodes with its own encoder: the same body (and, under ASan, no leak).
    var writer = FrameWriter(encoder: encoder)
    do { try writer.append(first) } catch { fail("FrameWriter cannot write \(what) \(first): \(error)") }
    let frame = writer.take()
    check(frame.count == bytes.count + 4 && frame.dropFirst(4).elementsEqual(bytes),
          "FrameWriter writes \(what) \(first) as \(hex(frame)), MessagePackEncoder as \(hex(bytes))")
    bytes.withUnsafeBytes { raw in
        let again = Model(raw)
        check(again.unpackingError(count: raw.count) == nil, "\(what) \(first) encodes to invalid bytes \(hex(bytes)): \(again.unpackingError(count: raw.count)!)")
    }
    do {
        let second = try decoder.decode(T.self, from: bytes)
        check(same(first, second), "\(what) \(first) encodes to \(hex(bytes)), which decodes to \(second)")
    } catch {
        fail("\(what) \(first) encodes to \(hex(bytes)), which does not decode: \(error)")
    }
}

/// A separate function: with the `do`/`catch` inline, swiftc 6.3 -O crashes in CopyPropagation.
private func encodeOrFail<T: Encodable>(_ value: T, _ encoder: MessagePackEncoder, _ what: String) -> [UInt8] {
    do {
        return try encoder.encode(value)
    } catch {
        let message = "\(what) decoded as \(value) does not encode: \(error)"
        fail(message)
    }
}

/// Decodes the input as a record (map and array layouts) and as `[String: MessagePackValue]`.
/// `value` is the input read as one `MessagePackValue`, when it is one.
func checkCodable(_ input: UnsafeRawBufferPointer, model: Model, value: MessagePackValue?) {
    checkTyped(FuzzRecord.self, input, model: model, asArrays: false, same: { $0.same($1) }, what: "FuzzRecord")
    checkTyped(FuzzRecord.self, input, model: model, asArrays: true, same: { $0.same($1) }, what: "FuzzRecord (structsAsArrays)")

    // [String: MessagePackValue] must succeed exactly when the input is a valid map whose keys
    // are all strings; repeated keys: the last one wins.
    var expected: Result<[String: MessagePackValue], Never>?
    if case .map(let entries)? = value, entries.allSatisfy({ $0.key.stringValue != nil }) {
        var d: [String: MessagePackValue] = [:]
        for (k, v) in entries { d[k.stringValue!] = v }
        expected = .success(d)
    }
    checkTyped([String: MessagePackValue].self, input, model: model, asArrays: false,
               same: { a, b in a.count == b.count && a.allSatisfy { k, v in b[k].map { identical(v, $0) } ?? false } },
               expected: .some(expected), what: "[String: MessagePackValue]")
}
