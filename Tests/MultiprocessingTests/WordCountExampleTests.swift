import Foundation
import Testing

/// `Examples/WordCount`, run as a user runs it: a map-reduce on a `ProcessPool` whose workers
/// are the example started again. Its count agrees with a count in one process, it draws a
/// progress bar only on a terminal, it refuses a bad option with a sentence, and when it
/// returns none of its processes is left. Small sizes: this is about behaviour, not speed.
@Suite struct WordCountExampleTests {
    static let smallCorpus = ["--workers", "2", "--documents", "300", "--words", "60"]

    @Test func theMapReduceAgreesWithOneProcessAndNoProcessOutlivesIt() async throws {
        // In a PID namespace of its own (as FrontDoorTests does): whatever the example starts
        // dies with the namespace, and the shell, its PID 1, lists what is left once the
        // example returned: a worker or a tracker still alive, or a zombie, is listed.
        let script = #""$0" "$@"; code=$?; left=""; for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = 1 ] && continue; read c < $d/comm; left="$left $p:$c"; done; echo "code=$code left=[$left]""#
        let (status, output, errors) = try await FrontDoorTests.run(
            "/usr/bin/unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", "/bin/sh", "-c", script,
                                 FrontDoorTests.sibling("WordCount")] + Self.smallCorpus)
        #expect(status == 0, "the namespace's shell did not finish; stderr: \(errors)")
        var lines = output.split(separator: "\n").map(String.init)
        #expect(lines.popLast() == "code=0 left=[]", "stderr: \(errors)\noutput: \(output)")

        // Off a terminal: plain lines, no bar redrawn with carriage returns.
        #expect(!output.contains("\r"), "output: \(output)")
        #expect(lines.first?.hasPrefix("corpus: 300 documents of 60 words, made in ") == true, "output: \(output)")
        #expect(lines.contains { $0 == "map: started, 30 shards of 10 documents on 2 workers" }, "output: \(output)")
        #expect(lines.contains { $0.hasPrefix("map: done, 300 documents in ") }, "output: \(output)")
        #expect(lines.last == "check: OK", "stderr: \(errors)\noutput: \(output)")

        // The top 10, most frequent first: Zipf's law puts the vocabulary's first word on top.
        let top = lines.drop { $0 != "top 10 words:" }.dropFirst().prefix(10).map { $0.split(separator: " ") }
        #expect(top.count == 10 && top.allSatisfy { $0.count == 3 }, "output: \(output)")
        #expect(top.first.map { $0[0...1] == ["1.", "the"] } == true, "output: \(output)")
        let counts = top.compactMap { $0.last.flatMap { Int($0) } }
        #expect(counts.count == 10 && counts == counts.sorted(by: >), "output: \(output)")
    }

    @Test func onATerminalItDrawsABarInsteadOfPlainLines() async throws {
        // `script` runs it on a pseudo-terminal of its own (-e: its exit status is the example's).
        let command = ([FrontDoorTests.sibling("WordCount")] + Self.smallCorpus).map { "'\($0)'" }.joined(separator: " ")
        let (status, output, errors) = try await FrontDoorTests.run("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(status == 0, "stderr: \(errors)\noutput: \(output)")
        #expect(output.contains("\rmap [##############################] 100%  30/30 shards, 0 with the workers"), "output: \(output)")
        #expect(!output.contains("map: started"), "output: \(output)")
        #expect(output.contains("check: OK"), "output: \(output)")
    }

    @Test func aBadOptionIsOneSentenceOnStandardErrorAndExitStatus2() async throws {
        let (status, output, errors) = try await FrontDoorTests.run(FrontDoorTests.sibling("WordCount"), ["--workers", "0"])
        #expect(status == 2)
        #expect(errors.hasPrefix("WordCount: --workers wants a whole number of at least 1, got '0'\nusage: WordCount"), "stderr: \(errors)")
        #expect(output.isEmpty, "it started anyway: \(output)")
    }
}
