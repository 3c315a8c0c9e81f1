/// The example's options, read from the command line: `--workers N`, `--documents N`,
/// `--words N` (or `--words=N`), `--help`.
struct Settings {
    /// Pool workers; nil: one per CPU.
    var workers: Int?
    /// How many documents the corpus has.
    var documents = 2_000
    /// How many words each document has.
    var words = 1_000
    /// `--help`: print ``usage`` and do nothing else.
    var showHelp = false

    static let usage = """
        usage: WordCount [--workers N] [--documents N] [--words N]
          --workers N     pool workers (default: one per CPU)
          --documents N   documents in the generated corpus (default: 2000)
          --words N       words per document (default: 1000)
        """

    /// The most words the corpus may have in all: about 6 bytes a word, twice (the text and
    /// the copy on its way to a worker), stays well under a gigabyte.
    static let maximumCorpusWords = 50_000_000
    static let maximumWorkers = 256

    /// Reads `arguments` (the program's name left out); throws a ``SettingsError`` naming the
    /// argument that is wrong and what was expected.
    init(parsing arguments: [String]) throws(SettingsError) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--help" || argument == "-h" {
                showHelp = true
                continue
            }
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0]
            guard ["--workers", "--documents", "--words"].contains(name) else {
                throw SettingsError("unknown option '\(argument)'")
            }
            guard let text = parts.count == 2 ? parts[1] : rest.popFirst() else {
                throw SettingsError("\(name) needs a number")
            }
            guard let value = Int(text), value >= 1 else {
                throw SettingsError("\(name) wants a whole number of at least 1, got '\(text)'")
            }
            switch name {
            case "--workers": workers = value
            case "--documents": documents = value
            default: words = value
            }
        }
        if let workers, workers > Self.maximumWorkers {
            throw SettingsError("--workers \(workers) is more than this example starts (at most \(Self.maximumWorkers))")
        }
        let (corpusWords, overflow) = documents.multipliedReportingOverflow(by: words)
        if overflow || corpusWords > Self.maximumCorpusWords {
            throw SettingsError("--documents \(documents) times --words \(words) is more than \(Self.maximumCorpusWords) words in all")
        }
    }
}

/// A command line the example cannot run: what is wrong, in a sentence.
struct SettingsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
