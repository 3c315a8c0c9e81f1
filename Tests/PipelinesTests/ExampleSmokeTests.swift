import Foundation
import Testing

/// The example pipelines, run as the README and Examples/README.md say, checked by their output.
@Suite("example pipelines", .serialized)
struct ExampleSmokeTests {
    /// A copy of the example's folder (so a run writes nothing into the clone) and mpctl run there.
    func runExample(_ name: String, _ file: String) async throws -> (MPCtl, String) {
        let folder = try RunFixture.folder([:])
        let example = folder + "/" + name
        try FileManager.default.copyItem(atPath: RunFixture.repository + "/Examples/" + name, toPath: example)
        // parse.py finds mpstage beside the clone when it is not installed: point it at this one.
        try? FileManager.default.createDirectory(atPath: folder + "/Protocols", withIntermediateDirectories: true)
        try? FileManager.default.createSymbolicLink(atPath: folder + "/Protocols/python", withDestinationPath: RunFixture.repository + "/Protocols/python")
        let run = try MPCtl(["run", "--plain", example + "/" + file], in: folder)
        return (run, example)
    }

    @Test("LogPipeline: generate -> parse (Python) -> enrich (a manager-dictionary cache) -> aggregate, and its tally checks out")
    func logPipeline() async throws {
        let (run, example) = try await runExample("LogPipeline", "pipeline.yaml")
        #expect(await run.wait(limit: .seconds(180)) == 0, "stderr: \(run.errors)")
        #expect(run.errors.contains("pipeline logs completed in "), "stderr: \(run.errors)")
        #expect(run.errors.contains("  generate: 200 in, 10000 out, 0 failed"), "stderr: \(run.errors)")
        let summarize = try MPCtl(["summarize", example + "/out/tallies.txt", "200"], in: example,
                                  executable: RunFixture.buildFolder + "/LogPipelineStages")
        #expect(await summarize.wait() == 0, "output: \(summarize.output) \(summarize.errors)")
        #expect(summarize.output.contains("check: OK"), "output: \(summarize.output)")
        #expect(summarize.output.contains("region      status  requests"), "output: \(summarize.output)")
    }

    @Test("Supervision: a flaky worker restarted by policy still yields every square exactly once")
    func flaky() async throws {
        let (run, example) = try await runExample("Supervision", "flaky.yaml")
        #expect(await run.wait(limit: .seconds(120)) == 0, "stderr: \(run.errors)")
        let squares = try String(contentsOfFile: example + "/out/squares.txt", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        #expect(squares.sorted() == (0..<400).map { $0 * $0 })
        #expect(run.errors.range(of: #"flaky\[[01]\] \| crashing on item \d+"#, options: .regularExpression) != nil, "stderr: \(run.errors)")
        #expect(run.errors.range(of: #"flaky: 400 in, 400 out, 0 failed, [1-9]\d* restarts"#, options: .regularExpression) != nil, "stderr: \(run.errors)")
    }

    @Test("Supervision: when the intensity is exhausted the run fails with a summary naming the stage")
    func exhausted() async throws {
        let (run, _) = try await runExample("Supervision", "exhausted.yaml")
        #expect(await run.wait(limit: .seconds(60)) == 1, "stderr: \(run.errors)")
        #expect(run.errors.contains("error: stage flaky: restart intensity exhausted: flaky[0] needed more than 2 restart(s) within 10.0 seconds"),
                "stderr: \(run.errors)")
        #expect(run.errors.contains("    flaky[0]: crashing on item "), "stderr: \(run.errors)")
    }

    @Test("a misspelled entry of a Swift stage is refused by the worker, and mpctl names the stage, the entry and the ones there are")
    func misspelledEntry() async throws {
        let folder = try RunFixture.folder(["pipeline.yaml": """
            name: typo
            queues: {seeds: 4, lines: 100}
            source: {range: 3, to: seeds}
            stages:
              - {name: generate, command: [LogPipelineStages], entry: Generat, input: seeds, output: lines,
                 restart: {policy: permanent, intensity: 1, period: 5}}
            sink: {from: lines, file: out.txt}
            """])
        let run = try MPCtl(["run", "pipeline.yaml"], in: folder)
        #expect(await run.wait(limit: .seconds(60)) == 1, "stderr: \(run.errors)")
        #expect(run.errors.contains("error: stage generate: a worker cannot start: "), "stderr: \(run.errors)")
        #expect(run.errors.contains("unknown entry \"Generat\"") && run.errors.contains("\"Generate\""), "stderr: \(run.errors)")
    }
}
