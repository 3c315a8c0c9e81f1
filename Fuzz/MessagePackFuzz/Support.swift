#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Failure reporting and small helpers shared by the checks.

/// The input being checked now, named in every failure message.
nonisolated(unsafe) var currentInput = UnsafeRawBufferPointer(start: nil, count: 0)

/// Lower-case hex without separators, as the regression tests and `xxd -r -p` take it.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Writes to standard error (fd 2; Swift 6 rejects the C global `stderr`).
func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { buffer in
        var rest = UnsafeRawBufferPointer(buffer)
        while !rest.isEmpty {
            let n = write(2, rest.baseAddress, rest.count)
            if n <= 0 { return }
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
    }
}

/// Stops with the input's hex: libFuzzer then saves the input as a crash artifact.
func fail(_ message: @autoclosure () -> String) -> Never {
    let text = message()
    let inputHex = hex(currentInput)
    writeStderr("\n==== MessagePackFuzz mismatch ====\n\(text)\ninput (\(currentInput.count) bytes): \(inputHex)\n")
    fatalError("MessagePackFuzz mismatch: \(text); input hex \(inputHex)")
}

@inline(__always) func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

/// Big-endian unsigned integer of `width` bytes (1, 2, 4 or 8) at `offset`.
@inline(__always) func bigEndian(_ bytes: UnsafeRawBufferPointer, at offset: Int, width: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<width { v = v << 8 | UInt64(bytes[offset + i]) }
    return v
}

/// UTF-8 well-formedness after the Unicode Standard's table 3-7, written here so that the
/// expectation does not share code with the Swift reader (which uses `String(validating:)`).
func isWellFormedUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    let n = b.count
    while i < n {
        let c0 = b[i]
        if c0 < 0x80 { i += 1; continue }
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xbf
        let trail: Int
        switch c0 {
        case 0xc2...0xdf: trail = 1
        case 0xe0: trail = 2; lo = 0xa0
        case 0xe1...0xec, 0xee...0xef: trail = 2
        case 0xed: trail = 2; hi = 0x9f
        case 0xf0: trail = 3; lo = 0x90
        case 0xf1...0xf3: trail = 3
        case 0xf4: trail = 3; hi = 0x8f
        default: return false
        }
        guard n - i > trail else { return false }
        guard b[i + 1] >= lo, b[i + 1] <= hi else { return false }
        var k = 2
        while k <= trail {
            guard b[i + k] & 0xc0 == 0x80 else { return false }
            k += 1
        }
        i += trail + 1
    }
    return true
}

/// Whether an extension of type -1 with this body is a timestamp the Swift reader accepts:
/// 4, 8 or 12 bytes, with nanoseconds below 1e9 (msgpack-c does not check the latter).
func isValidTimestampBody(_ body: UnsafeRawBufferPointer) -> Bool {
    switch body.count {
    case 4: return true
    case 8: return bigEndian(body, at: 0, width: 8) >> 34 < 1_000_000_000
    case 12: return bigEndian(body, at: 0, width: 4) < 1_000_000_000
    default: return false
    }
}
