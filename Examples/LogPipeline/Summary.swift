import Glibc

/// The tally of the pipeline's output, and the same tally computed here in one process from
/// the seeds (parsing with Swift instead of Python), which must agree exactly.
struct Tally: Equatable {
    struct Row: Equatable {
        var requests = 0
        var bytes = 0
        var milliseconds = 0
    }
    var rows: [String: Row] = [:]     // "eu-west 2xx"

    mutating func add(region: String, statusClass: String, bytes: Int, milliseconds: Int) {
        rows["\(region) \(statusClass)", default: Row()].requests += 1
        rows["\(region) \(statusClass)", default: Row()].bytes += bytes
        rows["\(region) \(statusClass)", default: Row()].milliseconds += milliseconds
    }

    var requests: Int { rows.values.reduce(0) { $0 + $1.requests } }

    /// From the sink's lines; nil for a line that is not "REGION CLASS BYTES MS".
    static func reading(_ text: String) -> (Tally, bad: Int) {
        var tally = Tally()
        var bad = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, let bytes = Int(fields[2]), let ms = Int(fields[3]) else { bad += 1; continue }
            tally.add(region: String(fields[0]), statusClass: String(fields[1]), bytes: bytes, milliseconds: ms)
        }
        return (tally, bad)
    }

    /// What the pipeline should have produced from `seeds` seeds.
    static func expected(seeds: Int) -> (Tally, garbled: Int) {
        var tally = Tally()
        var garbled = 0
        for seed in 0..<seeds {
            for line in LogLines.lines(seed: seed) {
                // 1.2.3.4 - - [time] "GET /path HTTP/1.1" 200 123 45ms
                let fields = line.split(separator: " ")
                guard fields.count == 11, let status = Int(fields[8]), let bytes = Int(fields[9]),
                      let ms = Int(fields[10].dropLast(2)) else { garbled += 1; continue }
                let network = fields[0].split(separator: ".").prefix(2).joined(separator: ".")
                tally.add(region: LogLines.region(ofNetwork: network), statusClass: LogLines.statusClass(status), bytes: bytes, milliseconds: ms)
            }
        }
        return (tally, garbled)
    }

    /// The table, busiest first.
    func lines() -> [String] {
        var out = ["region      status  requests       bytes  mean ms"]
        for (key, row) in rows.sorted(by: { ($0.value.requests, $1.key) > ($1.value.requests, $0.key) }) {
            let parts = key.split(separator: " ")
            out.append(pad(String(parts[0]), 12) + pad(String(parts[1]), 6) + right("\(row.requests)", 10) + right("\(row.bytes)", 12)
                       + right("\(row.milliseconds / max(row.requests, 1))", 9))
        }
        return out
    }

    private func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
    private func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
}

/// `LogPipelineStages summarize FILE SEEDS`: prints the tally of the pipeline's output and
/// checks it; exit 1 when it does not agree.
func summarize(file: String, seeds: Int) -> Int32 {
    guard let handle = fopen(file, "r") else {
        print("summarize: cannot read \(file)")
        return 1
    }
    var text = ""
    var buffer = [CChar](repeating: 0, count: 65536)
    while fgets(&buffer, Int32(buffer.count), handle) != nil {
        text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    fclose(handle)
    let (tally, bad) = Tally.reading(text)
    let (expected, garbled) = Tally.expected(seeds: seeds)
    print("\(tally.requests) requests from \(seeds * LogLines.perSeed) log lines (\(garbled) garbled lines dropped by parse)")
    for line in tally.lines() { print(line) }
    if bad == 0, tally == expected {
        print("check: OK (the same tally as one process computing it from the seeds)")
        return 0
    }
    print("check: FAILED: \(bad) unreadable line(s); \(tally.requests) requests tallied, \(expected.requests) expected")
    return 1
}
