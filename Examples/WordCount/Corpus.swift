import ExampleSupport
/// The text the example counts, made up on the spot: every run with the same sizes gets the
/// same documents, so a count can be compared across runs and worker counts.
enum Corpus {
    /// `documents` documents of `wordsPerDocument` words each, drawn from ``vocabulary`` with
    /// Zipf's law (the word of rank r is about 1/r as frequent as the most frequent one), as
    /// in natural text. A document is sentences of 4 to 15 words, one a line: capitalized,
    /// sometimes with a comma, ending with a full stop, so counting has to split and fold case.
    static func generate(documents: Int, wordsPerDocument: Int, seed: UInt64 = 2026) -> [String] {
        var generator = SeededGenerator(seed: seed)
        let zipf = ZipfSampler(count: vocabulary.count)
        return (0..<documents).map { _ in
            var text = ""
            text.reserveCapacity(wordsPerDocument * 8)
            var leftInSentence = 0
            for index in 0..<wordsPerDocument {
                let word = vocabulary[zipf.sample(using: &generator)]
                if leftInSentence == 0 {
                    leftInSentence = 4 + Int(generator.next() % 12)
                    text += word.prefix(1).uppercased() + word.dropFirst()
                } else {
                    text += generator.next() % 10 == 0 ? ", " : " "
                    text += word
                }
                leftInSentence -= 1
                if leftInSentence == 0 || index == wordsPerDocument - 1 {
                    text += ".\n"
                    leftInSentence = 0
                }
            }
            return text
        }
    }

    /// 2,000 distinct lowercase ASCII words, most frequent first: common English words, then
    /// made-up ones of three syllables for the long tail.
    static let vocabulary: [String] = {
        let common = """
            the of and to a in is it you that he was for on are with as his they be at one have \
            this from or had by hot word but what some we can out other were all there when up \
            use your how said an each she which do their time if will way about many then them \
            write would like so these her long make thing see him two has look more day could go \
            come did number sound no most people my over know water than call first who may down \
            side been now find
            """.split(separator: " ").map(String.init)
        let syllables = ["ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor",
                         "qui", "ba", "ne", "fo", "gri", "sha", "pe", "zu"]
        var words = common
        var seen = Set(common)
        var index = 0
        while words.count < 2_000 {
            let word = syllables[index / 256 % 16] + syllables[index / 16 % 16] + syllables[index % 16]
            if seen.insert(word).inserted { words.append(word) }
            index += 1
        }
        return words
    }()
}

/// Draws ranks 0..<count with probability proportional to 1/(rank+1).
struct ZipfSampler {
    /// cumulative[r]: the total weight of ranks 0...r.
    private let cumulative: [Double]

    init(count: Int) {
        var total = 0.0
        cumulative = (1...count).map { rank in
            total += 1 / Double(rank)
            return total
        }
    }

    /// A rank: the first whose cumulative weight passes a uniform draw (binary search).
    func sample(using generator: inout SeededGenerator) -> Int {
        let target = generator.nextUnitInterval() * cumulative[cumulative.count - 1]
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] <= target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

