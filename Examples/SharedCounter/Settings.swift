/// The example's options, read from the command line: `--workers N`, `--increments N` (or
/// `--increments=N`), `--unsafe`, `--help`.
struct Settings {
    /// Worker processes, all incrementing the same two counters.
    var workers = 4
    /// How many times each worker increments each counter.
    var increments = 10_000
    /// `--unsafe`: read then write without the lock (get then set), to show the updates it loses.
    var unsafe = false
    /// `--help`: print ``usage`` and do nothing else.
    var showHelp = false

    static let usage = """
        usage: SharedCounter [--workers N] [--increments N] [--unsafe]
          --workers N      worker processes (default: 4)
          --increments N   increments of each counter per worker (default: 10000)
          --unsafe         read, then write the sum, without the lock: shows the lost updates
        """

    static let maximumWorkers = 64
    /// The most increments in all: the totals stay far from overflow and a run from taking minutes.
    static let maximumIncrements = 100_000_000

    /// Reads `arguments` (the program's name left out); throws a ``SettingsError`` naming the
    /// argument that is wrong and what was expected.
    init(parsing arguments: [String]) throws(SettingsError) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--help", "-h":
                showHelp = true
                continue
            case "--unsafe":
                unsafe = true
                continue
            default: break
            }
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0]
            guard ["--workers", "--increments"].contains(name) else {
                throw SettingsError("unknown option '\(argument)'")
            }
            guard let text = parts.count == 2 ? parts[1] : rest.popFirst() else {
                throw SettingsError("\(name) needs a number")
            }
            guard let value = Int(text), value >= 1 else {
                throw SettingsError("\(name) wants a whole number of at least 1, got '\(text)'")
            }
            if name == "--workers" { workers = value } else { increments = value }
        }
        if workers > Self.maximumWorkers {
            throw SettingsError("--workers \(workers) is more than this example starts (at most \(Self.maximumWorkers))")
        }
        let (total, overflow) = workers.multipliedReportingOverflow(by: increments)
        if overflow || total > Self.maximumIncrements {
            throw SettingsError("--workers \(workers) times --increments \(increments) is more than \(Self.maximumIncrements) increments in all")
        }
    }
}

/// A command line the example cannot run: what is wrong, in a sentence.
struct SettingsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
