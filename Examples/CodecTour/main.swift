import MessagePack
import Foundation

struct Reading: Codable, Equatable { var id: Int; var name: String; var value: Double }
class Base: Codable { var a = 1 }
final class Derived: Base { var b = "x"
    enum K: CodingKey { case b }
    override init() { super.init() }
    required init(from d: any Decoder) throws { let c = try d.container(keyedBy: K.self); b = try c.decode(String.self, forKey: .b); try super.init(from: c.superDecoder()) }
    override func encode(to e: any Encoder) throws { var c = e.container(keyedBy: K.self); try c.encode(b, forKey: .b); try super.encode(to: c.superEncoder()) }
}
enum Shape: Codable, Equatable { case circle(r: Double), square(Double), none }
struct Big: Codable, Equatable { var m: [Int: String]; var d: Data; var t: Date; var u: UUID; var s: [Shape]; var o: Int?; var many: [String: Int] }

let enc = MessagePackEncoder(), dec = MessagePackDecoder()
let r = Reading(id: 1, name: "t", value: 0.5)
let bytes = try enc.encode(r)
print(bytes.map { String($0, radix: 16) }.joined(separator: " "))
print(try dec.decode(Reading.self, from: bytes) == r)
print(try enc.encode(Derived()).map { String($0, radix: 16) })
print(try MessagePackValue(unpacking: try enc.encode(Derived())))
do { let dd = try dec.decode(Derived.self, from: try enc.encode(Derived())); print(dd.a, dd.b) } catch { print(error) }
var many: [String: Int] = [:]; for i in 0..<40 { many["k\(i)"] = i }
let big = Big(m: [1: "one", -5: "minus"], d: Data([1,2,3]), t: Date(timeIntervalSince1970: 1.5), u: UUID(), s: [.circle(r: 2), .square(3), .none], o: nil, many: many)
let bb = try enc.encode(big)
print(try dec.decode(Big.self, from: bb) == big)
print(try MessagePackValue(unpacking: try enc.encode(Array(0..<20))))
print(try MessagePackValue(referenceUnpacking: bb.withUnsafeBytes { UnsafeRawBufferPointer($0) }) == (try MessagePackValue(unpacking: bb)))
do { _ = try dec.decode(Reading.self, from: Array(bytes.dropLast())) } catch { print(error) }
do { _ = try dec.decode(Int8.self, from: [0xcc, 200]) } catch { print(error) }
let clock = ContinuousClock()
var sink = 0
let t0 = clock.now
let iterations = Int(ProcessInfo.processInfo.environment["ITER"] ?? "") ?? 1_000_000
for i in 0..<iterations { let b = try enc.encode(Reading(id: i, name: "name", value: 1.5)); sink &+= try dec.decode(Reading.self, from: b).id }
print("roundtrip/s", Double(iterations) / ((clock.now - t0) / .seconds(1)), sink)
var writer = FrameWriter()
for i in 0..<100_000 { try writer.append(Reading(id: i, name: "name\(i % 10)", value: Double(i) * 0.5)) }
let stream = writer.take()
for _ in 0..<5 {
    var fr = FrameReader()
    fr.append(stream)
    let t1 = clock.now
    var n = 0
    while let r = try fr.next(Reading.self) { n &+= r.id }
    print("frames/s", 100_000.0 / ((clock.now - t1) / .seconds(1)), n)
}
