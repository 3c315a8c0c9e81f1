import CShims
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

// MessagePackFuzz: the differential fuzz target of Fuzz/README.md.
//
//   MessagePackFuzz [libFuzzer flags] [CORPUS...]   built with -sanitize=fuzzer: libFuzzer runs
//   MessagePackFuzz FILE|DIR...                      otherwise: checks each file once
//   MessagePackFuzz --hex HEX...                     checks each input given in hex
//   MessagePackFuzz --write-seeds DIR                writes the generated seeds
//   MessagePackFuzz                                  checks the generated seeds
//
// SwiftPM links executables with `--defsym main=MessagePackFuzz_main`, so libFuzzer's own
// `main` never runs: this one hands over to its driver when it is linked in.

let arguments = Array(CommandLine.arguments.dropFirst())

if arguments.first == "--write-seeds" {
    guard arguments.count == 2 else {
        writeStderr("usage: MessagePackFuzz --write-seeds DIR\n")
        exit(2)
    }
    do { try writeSeeds(to: arguments[1]) } catch {
        writeStderr("cannot write seeds to \(arguments[1]): \(error)\n")
        exit(1)
    }
    exit(0)
}

if mp_fuzzer_available() != 0 {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    // A closure, not `fuzzOneInput` itself: naming the @_cdecl function here emits its C symbol
    // a second time in this object file (a duplicate-symbol link error).
    exit(mp_fuzzer_run(&argc, &argv, { data, size in fuzzOneInput(data, size) }))
}

/// Checks one input outside libFuzzer; a mismatch ends the process (non-zero) through `fail`.
func replay(_ bytes: [UInt8], name: String) {
    bytes.withUnsafeBytes { raw in
        currentInput = raw
        checkInput(raw)
    }
    currentInput = UnsafeRawBufferPointer(start: nil, count: 0)
}

var checked = 0
if arguments.first == "--hex" {
    for (i, text) in arguments.dropFirst().enumerated() {
        replay(bytes(hex: text), name: "hex #\(i + 1)")
        checked += 1
    }
} else if arguments.isEmpty {
    for seed in generatedSeeds() {
        replay(seed.bytes, name: seed.name)
        checked += 1
    }
} else {
    let files = FileManager.default
    for path in arguments {
        var isDirectory = false
        guard files.fileExists(atPath: path, isDirectory: &isDirectory) else {
            writeStderr("MessagePackFuzz: no such file or directory: \(path)\n")
            exit(2)
        }
        let paths = isDirectory ? ((try? files.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
        for file in paths {
            guard let data = files.contents(atPath: file) else { continue }
            replay(Array(data), name: file)
            checked += 1
        }
    }
}
print("MessagePackFuzz: \(checked) input\(checked == 1 ? "" : "s") checked, no mismatch")
