import FoundationEssentials
import MessagePack

/// Seed inputs made here: values encoded by the library, hand-made bad bytes around each
/// limit, and frame streams. `Fuzz/run` adds every "hex" of `Protocols/vectors/*.json` and
/// `Fuzz/seeds/*.hex`.
func generatedSeeds() -> [(name: String, bytes: [UInt8])] {
    var seeds: [(name: String, bytes: [UInt8])] = []
    func add(_ name: String, _ bytes: [UInt8]) { seeds.append((name, bytes)) }

    let long = String(repeating: "x", count: 300)
    let values: [(String, MessagePackValue)] = [
        ("nil", nil), ("true", true), ("false", false),
        ("uints", [0, 127, 128, 255, 256, 65535, 65536, .uint(UInt64(UInt32.max)), .uint(UInt64(UInt32.max) + 1), .uint(.max)]),
        ("ints", [-1, -32, -33, -128, -129, -32768, -32769, .int(Int64(Int32.min)), .int(Int64(Int32.min) - 1), .int(.min)]),
        ("floats", [.float(1.5), .float(.nan), .float(-0.0), .float(.infinity), .double(.pi), .double(.nan), .double(-.infinity), .double(-0.0)]),
        ("strings", ["", "a", "héllo wörld ✓ 🎉", .string(String(repeating: "s", count: 31)), .string(String(repeating: "t", count: 32)),
                     .string(String(long.prefix(255))), .string(String(long.prefix(256)))]),
        ("binary", [.binary(Data()), .binary(Data([0xc1])), .binary(Data(repeating: 0xab, count: 300))]),
        ("extensions", .array([1, 2, 4, 8, 16, 0, 3, 20].map { MessagePackValue.extension(type: 5, data: Data(repeating: 0x11, count: $0)) })),
        ("timestamps", [.timestamp(seconds: 0, nanoseconds: 0), .timestamp(seconds: 1_700_000_000, nanoseconds: 0),
                        .timestamp(seconds: 1_700_000_000, nanoseconds: 123_456_789), .timestamp(seconds: 1 << 34, nanoseconds: 1),
                        .timestamp(seconds: -1, nanoseconds: 999_999_999), .timestamp(seconds: .max, nanoseconds: 999_999_999),
                        .timestamp(seconds: .min, nanoseconds: 0)]),
        ("collections", [[], [:], [1, "a", nil], ["a": 1, "b": [1, 2], "c": ["d": true]]]),
        ("map-odd-keys", .map([(1, "x"), (nil, true), ([1], [:]), (.binary(Data([1])), 2.5), ("k", 1), ("k", 2)])),
        ("envelope", ["kind": "call", "id": 7, "entry": "work", "args": [1, 2, 3]]),
    ]
    for (name, value) in values { add("value-\(name)", value.packed()) }
    if case .array(let elements) = values.first(where: { $0.0 == "timestamps" })!.1 {
        for (i, t) in elements.enumerated() { add("timestamp-\(i)", t.packed()) }
    }

    // Records: a full one and a sparse one, in both layouts, and as a map of values.
    let full = FuzzRecord(
        id: 42, name: "sensor-7", score: 0.25, note: "ok", tags: ["a", "β"],
        inner: .init(x: -5, label: nil, flag: true, values: [1.5, .nan]),
        history: [.init(x: 1, label: "h", flag: false, values: [])], kind: .beta,
        shape: .rect(width: 3, height: 4), when: Date(timeIntervalSince1970: 1_700_000_000.125),
        blob: Data([0, 1, 2, 255]), counts: ["x": 1, "y": -2], ratio: 0.5, small: -7, big: .max)
    let sparse = FuzzRecord(
        id: -1, name: "", score: -0.0, note: nil, tags: [], inner: .init(x: 0, label: "", flag: false, values: []),
        history: nil, kind: .alpha, shape: .point, when: Date(timeIntervalSince1970: 0), blob: Data(),
        counts: nil, ratio: nil, small: nil, big: nil)
    var circle = sparse
    circle.shape = .circle(radius: 2)
    var label = full
    label.shape = .label("tag")
    label.when = Date(timeIntervalSince1970: -1.5)
    for (name, record) in [("full", full), ("sparse", sparse), ("circle", circle), ("label", label)] {
        for asArrays in [false, true] {
            if let bytes = try? MessagePackEncoder(options: .init(structsAsArrays: asArrays)).encode(record) {
                add("record-\(name)\(asArrays ? "-array" : "")", bytes)
            }
        }
    }
    let dictionary: [String: MessagePackValue] = ["a": 1, "b": ["c": [1.5, "d"]], "t": .timestamp(seconds: 5, nanoseconds: 6)]
    if let bytes = try? MessagePackEncoder().encode(dictionary) { add("dictionary", bytes) }

    // Nesting around the limit of 32 (the outermost container is depth 1).
    for depth in [31, 32, 33] {
        add("nested-arrays-\(depth)", Array(repeating: 0x91, count: depth) + [0xc0])
        add("nested-maps-\(depth)", Array(repeating: [0x81, 0xa1, 0x6b], count: depth).flatMap { $0 } + [0xc0])
        add("nested-empty-\(depth)", Array(repeating: 0x91, count: depth - 1) + [0x90])
    }

    // Bad bytes: one of each error, declared sizes far beyond the input, msgpack-c's quirks.
    let bad: [(String, String)] = [
        ("reserved", "c1"), ("reserved-nested", "9291c1"), ("trailing", "c0c0"), ("empty", ""),
        ("array32-huge", "ddffffffff"), ("map32-huge", "dfffffffff"), ("array16-short", "dc0010c0"),
        ("map16-short", "de0002a161"), ("str32-huge", "dbffffffff61"), ("bin32-huge", "c6ffffffff"),
        ("ext32-wrap", "c9ffffffff"), ("ext32-wrap-type", "c9ffffffff01"), ("fixext16-short", "d801"),
        ("invalid-utf8", "a3fffefd"), ("overlong-utf8", "a2c0af"), ("surrogate-utf8", "a3eda080"),
        ("timestamp-3", "c703ff000000"), ("timestamp-nanos", "d7ffffffffff00000000"),
        ("timestamp96-nanos", "c70cff3b9aca000000000000000000"), ("timestamp96-max", "c70cff3b9ac9ff7fffffffffffffff"),
        ("uint64-short", "cf0102"), ("float32-short", "ca0000"),
    ]
    for (name, text) in bad { add("bad-\(name)", bytes(hex: text)) }

    // Frame streams (the same input is also read as a frame stream).
    var writer = FrameWriter()
    try? writer.append(full)
    try? writer.append(["kind": "ok"] as MessagePackValue, "payload" as MessagePackValue)
    try? writer.append(body: UnsafeRawBufferPointer(start: nil, count: 0))
    add("frames", writer.take())
    add("frames-raw", bytes(hex: "00000003930102030000000000000001c0"))
    add("frames-too-large", bytes(hex: "8000000200000001"))
    return seeds
}

/// Bytes from hex (whitespace ignored).
func bytes(hex text: String) -> [UInt8] {
    let digits = text.unicodeScalars.compactMap { UInt8(String($0), radix: 16) }
    return stride(from: 0, to: digits.count - 1, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
}

/// Writes every generated seed into `directory` as `gen-NAME`.
func writeSeeds(to directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for seed in generatedSeeds() {
        try Data(seed.bytes).write(to: URL(fileURLWithPath: directory + "/gen-" + seed.name))
    }
}
