import Multiprocessing

/// The map step, run in the pool's workers: the words of a shard (a run of documents) and how
/// often each occurs. The worker adds up its shard's counts itself (Hadoop's "combiner"), so
/// the parent decodes and merges one dictionary per shard, not one per document: with one per
/// document (a few hundred words each) the parent's decoding and merging is the bottleneck;
/// measured here at the default sizes, that map took 3 to 4 times as long as with shards.
/// Registered in `bootstrap` under this name, so a worker (this program started again) finds it.
let countWords = ProcessFunction("wordcount.countWords") { (shard: [String]) -> [String: Int] in
    var counts: [String: Int] = [:]
    for document in shard { WordCounting.count(document, into: &counts) }
    return counts
}

/// Counting and comparing word counts, the same code in the workers and in the parent.
enum WordCounting {
    /// Adds the words of `text` to `counts`. A word is a run of ASCII letters, folded to
    /// lowercase; anything else separates words (the corpus is ASCII). Scanning bytes rather
    /// than Characters keeps the map step cheap next to the cost of shipping a document.
    static func count(_ text: String, into counts: inout [String: Int]) {
        var word: [UInt8] = []
        word.reserveCapacity(32)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): word.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): word.append(byte | 0x20)  // to lowercase
            default:
                guard !word.isEmpty else { continue }
                counts[String(decoding: word, as: UTF8.self), default: 0] += 1
                word.removeAll(keepingCapacity: true)
            }
        }
        if !word.isEmpty { counts[String(decoding: word, as: UTF8.self), default: 0] += 1 }
    }

    /// The `limit` most frequent words, ties in alphabetical order (so the list is stable).
    static func top(_ limit: Int, of counts: [String: Int]) -> [(word: String, count: Int)] {
        counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(limit).map { (word: $0.key, count: $0.value) }
    }

    /// The alphabetically first word whose count differs between `pooled` and `single`
    /// (nil: none does); a word missing from one side counts 0 there.
    static func firstDifference(_ pooled: [String: Int], _ single: [String: Int]) -> (word: String, pooled: Int, single: Int)? {
        let differing = Set(pooled.keys).union(single.keys).filter { pooled[$0] != single[$0] }
        return differing.min().map { (word: $0, pooled: pooled[$0] ?? 0, single: single[$0] ?? 0) }
    }
}
