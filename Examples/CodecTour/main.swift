// A tour of the wire format every process of swift-multiprocessing speaks: Codable values as
// MessagePack, framed with a 4-byte length, with typed errors for bad input.
// Run it with `make demo` (or `swift run -c release CodecTour`).
import Foundation
import MessagePack

struct Reading: Codable, Equatable {
    var id: Int
    var name: String
    var value: Double
    var taken: Date
    var tags: [String: Int]
}

func show(_ title: String, _ bytes: [UInt8]) {
    print("\(title) (\(bytes.count) bytes)")
    print("  hex:    \(bytes.map { String(format: "%02x", $0) }.joined(separator: " "))")
    if let value = try? MessagePackValue(unpacking: bytes) { print("  value:  \(value)") }
}

let encoder = MessagePackEncoder()
let decoder = MessagePackDecoder()

// 1. A struct is a map with string keys: a Python peer's msgpack.unpackb sees a dict.
let reading = Reading(id: 7, name: "boiler", value: 81.5, taken: Date(timeIntervalSince1970: 1_764_460_800), tags: ["zone": 3])
let bytes = try encoder.encode(reading)
show("1. Reading as a map", bytes)
print("  back:   \(try decoder.decode(Reading.self, from: bytes) == reading ? "equal" : "DIFFERENT")\n")

// 2. The compact form: the same struct as an array of its values.
let compact = MessagePackEncoder(options: .init(structsAsArrays: true))
show("2. Reading as an array (structsAsArrays)", try compact.encode(reading))
print()

// 3. Frames: a 4-byte big-endian length, then the body. One buffer, one write, many frames;
//    the reader takes bytes in any chunks and hands back whole frames.
var writer = FrameWriter()
for id in 1...3 { try writer.append(Reading(id: id, name: "r\(id)", value: Double(id), taken: .now, tags: [:])) }
let stream = writer.take()
print("3. Three frames in one buffer: \(stream.count) bytes")
var reader = FrameReader()
for byte in stream {   // one byte at a time, as a slow pipe might deliver them
    reader.append([byte])
    while let r = try reader.next(Reading.self) { print("  frame:  Reading(id: \(r.id), name: \(r.name))") }
}
try reader.finish()
print()

// 4. Bad input is a typed error that says what and where, never a crash.
print("4. Bad input")
let cases: [(String, [UInt8])] = [
    ("truncated", Array(bytes.dropLast(3))),
    ("a map32 declaring 4 billion entries", [0xdf, 0xff, 0xff, 0xff, 0xff]),
    ("invalid UTF-8", [0xa2, 0xc3, 0x28]),
    ("the reserved byte", [0xc1]),
]
for (title, input) in cases {
    do { _ = try MessagePackValue(unpacking: input) } catch { print("  \(title): \(error)") }
}
do {
    _ = try decoder.decode(Reading.self, from: try encoder.encode(["id": "seven"]))
} catch {
    print("  wrong type: \(error)")
}
var guarded = FrameReader(maxFrameSize: 1024)
guarded.append([0x7f, 0xff, 0xff, 0xff])
do { _ = try guarded.nextFrame() } catch { print("  oversized frame: \(error)") }
