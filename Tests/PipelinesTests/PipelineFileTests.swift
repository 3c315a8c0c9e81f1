import Foundation
import Multiprocessing
import Pipelines
import Testing

/// Pipeline files (issue 14, item 5 and "Bad input"): a good file becomes the ``Pipeline`` it
/// says, with paths made absolute; every problem is reported at once, each with the line and
/// column of the value at fault and its key, before anything starts.
@Suite("Pipeline files")
struct PipelineFileTests {
    static let directory = "/srv/pipelines"

    static func parse(_ text: String, checkCommands: Bool = true) throws(PipelineFileError) -> Pipeline {
        try PipelineFile.parse(text, file: "p.yaml", directory: directory, defaultName: "p", checkCommands: checkCommands)
    }

    /// The diagnostics of a file that must be refused.
    static func problems(_ text: String, checkCommands: Bool = true) -> [PipelineDiagnostic] {
        do {
            _ = try parse(text, checkCommands: checkCommands)
            Issue.record("the file was accepted")
            return []
        } catch {
            return error.diagnostics
        }
    }

    static let good = """
        name: logs
        queues:
          lines: {maxsize: 100}
          parsed:
            maxsize: 10
          done:
        source:
          lines: input/access.log
          to: lines
        stages:
          - name: parse
            command: [./bin/parse, --strict]
            entry: Parse
            count: 2
            input: lines
            output: parsed
            restart: {policy: transient, strategy: one_for_all, intensity: 5, period: 2.5}
            environment: {LANG: C, LEVEL: 3}
          - name: count
            command: cat -u
            input: parsed
            output: done
            restart: temporary
        sink:
          from: done
          file: out/result.txt
        """

    @Test("a good file becomes the pipeline it describes, its paths absolute from the file's folder")
    func goodFile() throws {
        let pipeline = try Self.parse(Self.good, checkCommands: false)
        #expect(pipeline.name == "logs")
        #expect(pipeline.queues == [QueueDefinition(name: "lines", maxsize: 100), QueueDefinition(name: "parsed", maxsize: 10),
                                    QueueDefinition(name: "done", maxsize: 0)])
        #expect(pipeline.source == Source(.lines(path: "/srv/pipelines/input/access.log"), to: "lines"))
        #expect(pipeline.sink == Sink(.file(path: "/srv/pipelines/out/result.txt"), from: "done"))
        #expect(pipeline.stages.count == 2)
        let parse = pipeline.stages[0]
        #expect(parse.command == ["/srv/pipelines/bin/parse", "--strict"])
        #expect(parse.entry == "Parse")
        #expect(parse.count == 2)
        #expect(parse.input == "lines" && parse.output == "parsed")
        #expect(parse.restart == StageRestart(restart: .transient, strategy: .oneForAll, intensity: 5, period: .milliseconds(2500)))
        #expect(parse.environment == ["LANG": "C", "LEVEL": "3"])
        let count = pipeline.stages[1]
        #expect(count.command == ["cat", "-u"])
        #expect(count.count == 1)
        #expect(count.restart == StageRestart(restart: .temporary))
    }

    @Test("defaults: the name from the file, unbounded queues, a range source, standard output")
    func defaults() throws {
        let pipeline = try Self.parse("""
            queues: {numbers: , squares: 0}
            source: {range: [1, 10, 3], to: numbers}
            stages:
              - {name: square, command: cat, input: numbers, output: squares}
            sink: {from: squares}
            """)
        #expect(pipeline.name == "p")
        #expect(pipeline.queues.map(\.maxsize) == [0, 0])
        #expect(pipeline.source?.kind == .range(start: 1, stop: 10, step: 3))
        #expect(pipeline.sink?.kind == .standardOutput)
        #expect(pipeline.stages[0].restart == StageRestart())
    }

    @Test("a syntax error names its line and column")
    func syntaxError() {
        let problems = Self.problems("""
            queues:
              a: {maxsize: 1
            stages: []
            """)
        #expect(problems.count == 1)
        #expect(problems.first?.line == 3)
        #expect(problems.first?.message.contains("YAML syntax") == true)
    }

    @Test("an unknown key is named with its line, column and a suggestion")
    func unknownKey() {
        let problems = Self.problems("""
            queues: {a: 1, b: 1}
            source: {range: 3, to: a}
            stages:
              - name: s
                command: cat
                input: a
                ouptut: b
            sink: {from: b}
            """)
        let problem = problems.first { $0.key == "stages[0].ouptut" }
        #expect(problem?.line == 7)
        #expect(problem?.column == 5)
        #expect(problem?.message.contains("unknown key") == true)
        #expect(problem?.message.contains("did you mean \"output\"") == true)
    }

    @Test("a value of the wrong type names the type expected and the value found")
    func wrongType() {
        let problems = Self.problems("""
            queues: {a: {maxsize: lots}}
            source: {range: 3, to: a}
            stages:
              - {name: s, command: cat, input: a, count: "two"}
            """)
        let count = problems.first { $0.key == "stages[0].count" }
        #expect(count?.line == 4)
        #expect(count?.message == "expected an integer, found the string \"two\"")
        let maxsize = problems.first { $0.key == "queues.a.maxsize" }
        #expect(maxsize?.line == 1)
        #expect(maxsize?.message.contains("expected an integer") == true)
    }

    @Test("a missing key and a command that is not found are reported where they belong")
    func missingKeyAndCommand() {
        let problems = Self.problems("""
            queues: {a: , b: }
            source: {range: 3, to: a}
            stages:
              - name: first
                input: a
                output: b
              - name: second
                command: [no-such-program-anywhere, -x]
                input: b
              - name: third
                command: ./missing.py
                input: b
            """)
        #expect(problems.contains { $0.key == "stages[0]" && $0.line == 4 && $0.message == "missing key `command`" })
        let notFound = problems.first { $0.key == "stages[1].command" }
        #expect(notFound?.line == 8)
        #expect(notFound?.message.contains("no-such-program-anywhere") == true)
        #expect(problems.contains { $0.key == "stages[2].command" && $0.message == "command not found: /srv/pipelines/missing.py" })
    }

    @Test("queues: an undefined one is named with a suggestion; one never read or never written is reported at its declaration")
    func queues() {
        let problems = Self.problems("""
            queues:
              lines: 10
              parsed: 10
              orphan: 10
            source: {range: 3, to: lines}
            stages:
              - {name: parse, command: cat, input: lines, output: parsd}
              - {name: after, command: cat, input: parsed}
            """)
        #expect(problems.contains { $0.key == "stages[0].output" && $0.line == 7 && $0.message.contains("did you mean \"parsed\"") })
        #expect(problems.contains { $0.key == "queues.parsed" && $0.line == 3 && $0.message.contains("nothing puts items on this queue") })
        #expect(problems.contains { $0.key == "queues.orphan" && $0.line == 4 && $0.message == "the queue is never used" })
    }

    @Test("stages that feed each other in a loop are a cycle, named stage by stage")
    func cycle() {
        let problems = Self.problems("""
            queues: {a: , b: , c: }
            source: {range: 3, to: a}
            stages:
              - {name: one, command: cat, input: a, output: b}
              - {name: two, command: cat, input: b, output: c}
              - {name: three, command: cat, input: c, output: b}
            """)
        let cycle = problems.filter { $0.message.contains("cycle") }
        #expect(cycle.count == 1)
        #expect(cycle.first?.message.contains("\"two\" -> \"three\" -> \"two\"") == true)
        #expect(cycle.first?.line == 6)
    }

    @Test("every problem of a file is reported at once, in file order")
    func allAtOnce() {
        let problems = Self.problems("""
            name: 7
            queues: {a: -1}
            source: {range: {start: 0, stop: 5, step: 0}, to: a}
            stages:
              - {name: s, command: cat, input: a, count: 0, inFlight: 0, restart: {policy: forever, strategy: sideways, period: -2}}
              - {name: s, command: cat, input: a}
            sink: {from: a, file: x, stdout: true}
            """)
        #expect(problems.map(\.key).contains("name"))
        #expect(problems.contains { $0.key == "queues.a" && $0.message == "expected 0 or more, found -1" })
        #expect(problems.contains { $0.key == "source.range" && $0.message.contains("step cannot be 0") })
        #expect(problems.contains { $0.key == "stages[0].count" })
        #expect(problems.contains { $0.key == "stages[0].inFlight" && $0.message.contains("at least 1 item") })
        #expect(problems.contains { $0.key == "stages[0].restart.policy" && $0.message.contains("forever") })
        #expect(problems.contains { $0.key == "stages[0].restart.strategy" && $0.message.contains("sideways") })
        #expect(problems.contains { $0.key == "stages[0].restart.period" })
        #expect(problems.contains { $0.key == "stages[1].name" && $0.message.contains("another stage") })
        #expect(problems.contains { $0.key == "sink" && $0.message.contains("not both") })
        #expect(problems.map(\.line) == problems.map(\.line).sorted())
    }

    @Test("a file that is not a mapping, an empty file, a file without stages")
    func shapes() {
        #expect(Self.problems("- a\n- b\n").first?.message.contains("expected a mapping") == true)
        #expect(Self.problems("").first?.message.contains("empty") == true)
        #expect(Self.problems("name: x\n").first?.message.contains("missing key `stages`") == true)
        #expect(Self.problems("stages: []\n").first?.message.contains("at least one stage") == true)
        #expect(Self.problems("stages: {a: 1}\n").first?.message.contains("expected a list") == true)
    }

    @Test("a diagnostic prints as FILE:LINE:COLUMN: error: KEY: MESSAGE")
    func printed() {
        let diagnostic = PipelineDiagnostic(file: "p.yaml", line: 3, column: 5, key: "stages[0].count", message: "expected an integer")
        #expect(diagnostic.description == "p.yaml:3:5: error: stages[0].count: expected an integer")
    }

    @Test("a file that cannot be read is one diagnostic naming it")
    func unreadable() {
        #expect(throws: PipelineFileError.self) { try PipelineFile.load(path: "/nonexistent/pipeline.yaml") }
        do {
            _ = try PipelineFile.load(path: "/nonexistent/pipeline.yaml")
        } catch {
            #expect(error.diagnostics.first?.message.contains("cannot read the file") == true)
        }
    }
}
