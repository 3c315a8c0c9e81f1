// A map-reduce on a ProcessPool: count the words of a corpus the example makes up (seeded, so
// every run with the same sizes counts the same text). The corpus is cut into shards; the
// pool's workers count a shard each (the map), the parent adds the shards' counts up as they
// come in (the reduce), then checks the total against a count done here in one process.
// Run it with `swift run -c release WordCount [--workers N] [--documents N] [--words N]`.
import Glibc
import Multiprocessing

// A child is this program started again: a pool worker runs `countWords` here and never
// returns. Nothing before this line may have side effects.
try await Multiprocessing.bootstrap(functions: [countWords])

let settings: Settings
do {
    settings = try Settings(parsing: Array(CommandLine.arguments.dropFirst()))
} catch {
    var standardError = StandardError()
    print("WordCount: \(error)\n\(Settings.usage)", to: &standardError)
    exit(2)
}
if settings.showHelp {
    print(Settings.usage)
    exit(0)
}

let clock = ContinuousClock()
var started = clock.now
let documents = Corpus.generate(documents: settings.documents, wordsPerDocument: settings.words)
print("corpus: \(settings.documents) documents of \(settings.words) words, made in \(milliseconds(since: started)) ms")

// The progress bar only on a terminal; piped into a file or a test, plain lines instead.
let onTerminal = isatty(STDOUT_FILENO) == 1
started = clock.now
let pooled: (counts: [String: Int], shards: Int)
do {
    pooled = try await mapReduce(documents, workers: settings.workers, onTerminal: onTerminal)
} catch {
    if onTerminal { print() }  // below the bar
    var standardError = StandardError()
    print("WordCount: the map failed: \(error)", to: &standardError)
    exit(1)
}
let mapTime = milliseconds(since: started)
if onTerminal {
    ProgressBar.draw(completed: pooled.shards, of: pooled.shards, running: 0)
    print()
}
print("map: done, \(documents.count) documents in \(mapTime) ms")

print("top 10 words:")
for (rank, entry) in WordCounting.top(10, of: pooled.counts).enumerated() {
    let padding = String(repeating: " ", count: max(1, 12 - entry.word.count))
    print("  \(rank + 1 < 10 ? " " : "")\(rank + 1). \(entry.word)\(padding)\(entry.count)")
}

// The reference: the same documents counted here, one after another, in one process.
started = clock.now
var single: [String: Int] = [:]
for document in documents { WordCounting.count(document, into: &single) }
print("one process: \(milliseconds(since: started)) ms")

let expectedWords = settings.documents * settings.words
let countedWords = pooled.counts.values.reduce(0, +)
if let difference = WordCounting.firstDifference(pooled.counts, single) {
    var standardError = StandardError()
    print("check: FAILED: '\(difference.word)' counted \(difference.pooled) times by the pool, \(difference.single) in one process",
          to: &standardError)
    exit(1)
}
guard countedWords == expectedWords else {
    var standardError = StandardError()
    print("check: FAILED: \(countedWords) words counted, the corpus has \(expectedWords)", to: &standardError)
    exit(1)
}
print("check: OK")

/// The map-reduce: `documents` cut into shards, each counted in a pool worker, the counts
/// added up here as they come in. Returns the total counts and how many shards there were.
func mapReduce(_ documents: [String], workers: Int?, onTerminal: Bool) async throws -> (counts: [String: Int], shards: Int) {
    // withProcessPool, not a bare ProcessPool: however this ends (an error included), the
    // pool is terminated and its workers joined before it returns.
    try await withProcessPool(countWords, workers: workers) { pool in
        // About 16 shards per worker: enough that the workers finish together and the bar
        // moves, few enough that the parent's share (a shard's counts to decode and merge) is small.
        let shardSize = max(1, (documents.count + 16 * pool.workerCount - 1) / (16 * pool.workerCount))
        let shards = stride(from: 0, to: documents.count, by: shardSize).map {
            Array(documents[$0..<min($0 + shardSize, documents.count)])
        }
        if !onTerminal { print("map: started, \(shards.count) shards of \(shardSize) documents on \(pool.workerCount) workers") }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let shardCount = shards.count
            if onTerminal { group.addTask { await ProgressBar.draw(pool, shards: shardCount) } }
            // imapUnordered, not map: adding counts does not care about order, so the parent
            // merges each shard's counts as soon as any worker returns them, reducing while the
            // workers still map, and holds one result at a time rather than all of them at the end.
            var totals: [String: Int] = [:]
            for try await counts in pool.imapUnordered(shards) {
                totals.merge(counts, uniquingKeysWith: +)
            }
            group.cancelAll()
            return (counts: totals, shards: shardCount)
        }
    }
}

/// Whole milliseconds from `start` to now.
func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
    let elapsed = ContinuousClock.now - start
    return elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000
}

/// Standard error, for `print(_:to:)`: written straight to descriptor 2.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var text = string
        text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}
