import Foundation
import Testing

/// `Examples/SharedCounter`, run as a user runs it: worker processes (the example started
/// again) increment a `SharedValue` under its lock and a manager dictionary's key with the
/// manager's atomic `increment`, report on a `Queue`, and the totals are exact; `--unsafe`
/// reads, then writes, without the lock and comes out short, never over. When it returns none
/// of its processes is left. Small sizes: this is about behaviour, not speed.
@Suite struct SharedCounterExampleTests {
    /// Whatever the example starts dies with a PID namespace of its own (as FrontDoorTests
    /// does), and the shell, its PID 1, lists what is left once the example returned: a worker
    /// still alive, or a zombie, is listed. Returns the example's lines (the last one, the
    /// shell's "code=... left=[...]", checked and dropped) and its standard error.
    static func runAlone(_ arguments: [String]) async throws -> (lines: [String], errors: String) {
        let script = #""$0" "$@"; code=$?; left=""; for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = 1 ] && continue; read c < $d/comm; left="$left $p:$c"; done; echo "code=$code left=[$left]""#
        let (status, output, errors) = try await FrontDoorTests.run(
            "/usr/bin/unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", "/bin/sh", "-c", script,
                                 FrontDoorTests.sibling("SharedCounter")] + arguments)
        #expect(status == 0, "the namespace's shell did not finish; stderr: \(errors)")
        var lines = output.split(separator: "\n").map(String.init)
        #expect(lines.popLast() == "code=0 left=[]", "stderr: \(errors)\noutput: \(output)")
        return (lines, errors)
    }

    /// The number before " of " in "label: N of M...", the line found by its label.
    static func total(_ label: String, in lines: [String]) -> Int? {
        guard let line = lines.first(where: { $0.hasPrefix(label + ":") }) else { return nil }
        return line.dropFirst(label.count + 1).split(separator: " ").first.flatMap { Int($0) }
    }

    @Test func workersIncrementingTogetherGetExactTotalsAndNoProcessOutlivesThem() async throws {
        let (lines, errors) = try await Self.runAlone(["--workers", "3", "--increments", "2000"])
        let output = lines.joined(separator: "\n")
        #expect(lines.first == "3 workers, 2000 increments of each counter each (under the value's lock, and the manager's atomic increment)",
                "output: \(output)")
        // Each worker reported on the queue, once.
        let reports = lines.filter { $0.hasPrefix("worker ") }
        #expect(reports.count == 3, "output: \(output)")
        for worker in 1...3 {
            #expect(reports.contains { $0.hasPrefix("worker \(worker): 2000 increments of each in ") }, "output: \(output)")
        }
        #expect(lines.contains("shared value:       6000 of 6000"), "output: \(output)")
        #expect(lines.contains("manager dictionary: 6000 of 6000"), "output: \(output)")
        #expect(lines.last == "check: OK", "stderr: \(errors)\noutput: \(output)")
    }

    @Test func theUnsafeVariantNeverCountsMoreThanWasDoneAndSaysWhatItLost() async throws {
        let (lines, errors) = try await Self.runAlone(["--workers", "2", "--increments", "2000", "--unsafe"])
        let output = lines.joined(separator: "\n")
        #expect(lines.first == "2 workers, 2000 increments of each counter each (unsafe: read, then write the sum, without the lock)",
                "output: \(output)")
        // A lost update makes a total short, never long: how short depends on the scheduling.
        let value = try #require(Self.total("shared value", in: lines), "output: \(output)\nstderr: \(errors)")
        let dictionary = try #require(Self.total("manager dictionary", in: lines), "output: \(output)")
        #expect((1...4000).contains(value) && (1...4000).contains(dictionary), "output: \(output)")
        #expect(lines.last == "lost updates: \(4000 - value) in the shared value, \(4000 - dictionary) in the manager dictionary",
                "output: \(output)")
        #expect(!lines.contains("check: OK"), "output: \(output)")
    }

    @Test func aBadOptionIsOneSentenceOnStandardErrorAndExitStatus2() async throws {
        let (status, output, errors) = try await FrontDoorTests.run(FrontDoorTests.sibling("SharedCounter"), ["--increments", "many"])
        #expect(status == 2)
        #expect(errors.hasPrefix("SharedCounter: --increments wants a whole number of at least 1, got 'many'\nusage: SharedCounter"),
                "stderr: \(errors)")
        #expect(output.isEmpty, "it started anyway: \(output)")
    }
}
