import Foundation
import Testing

/// docs/PYTHON.md's worked port (`Examples/PortedCounter`) prints what the document says it
/// prints: the example is run as a user runs it, a program whose children are itself started
/// again. (`swift build --build-tests` builds it beside the test bundle, as every target.)
@Suite struct PortedCounterExampleTests {
    @Test func theWorkedPortSumsEveryJobOnceAndBothConsumersExitZero() async throws {
        let (status, output, errors) = try await FrontDoorTests.run(FrontDoorTests.sibling("PortedCounter"), [])
        #expect(status == 0, "stderr: \(errors)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.suffix(2) == ["sum of squares 1...1000: 333833500", "exit codes: [0, 0]"], "output: \(output)")

        // "consumer-N handled K jobs" once per consumer, in either order; the split varies
        // by run, but every one of the 1000 jobs was handled exactly once.
        var handled: [String: Int] = [:]
        for line in lines.dropLast(2) {
            let words = line.split(separator: " ")
            #expect(words.count == 4 && words[1] == "handled" && words[3] == "jobs", "unexpected line: \(line)")
            if words.count == 4 { handled[String(words[0])] = Int(words[2]) }
        }
        #expect(Set(handled.keys) == ["consumer-1", "consumer-2"], "output: \(output)")
        #expect(handled.values.reduce(0, +) == 1000, "output: \(output)")
    }
}
