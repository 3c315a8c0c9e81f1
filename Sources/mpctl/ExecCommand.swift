import ArgumentParser
import Foundation
import Multiprocessing
import Pipelines

extension MPCtl {
    /// `mpctl exec -n N -- COMMAND ...`: an ad-hoc pool over standard input's lines.
    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Runs N copies of a worker command over standard input's lines; results on standard output, in input order.",
            discussion: """
                Each line of standard input is one item, sent as a request to one of the N workers \
                (a program that speaks Protocols/PROTOCOL.md's pipeline stage protocol, such as a \
                Python script using mpstage); each reply's items are printed one per line, in the \
                order of the input lines (--unordered: as they come). A worker that dies is \
                restarted and its item sent again. Items answered with an error are reported on \
                standard error and make the exit status 1.

                  seq 1 100 | mpctl exec -n 4 -- python3 square.py
                """
        )

        @Option(name: .short, help: "How many workers.")
        var n: Int = Multiprocessing.cpuCount

        @Flag(help: "Print results as they come, not in input order.")
        var unordered = false

        @Option(help: "For a Swift program with several entries: the one to run (its MP_ENTRY).")
        var entry: String?

        @Option(name: .customLong("in-flight"), help: "Lines sent ahead to each worker while it works on one (1: one at a time).")
        var inFlight: Int = Stage.defaultInFlight

        @Option(help: "Restarts allowed within --period seconds before exec gives up.")
        var intensity: Int = 3

        @Option(help: "The restart intensity's window, in seconds.")
        var period: Double = 5

        @Argument(parsing: .captureForPassthrough, help: "The worker command and its arguments (after --).")
        var command: [String] = []

        func validate() throws {
            guard !command.drop(while: { $0 == "--" }).isEmpty else { throw ValidationError("give the worker command after --, e.g. mpctl exec -n 4 -- python3 square.py") }
            guard n >= 1 else { throw ValidationError("-n must be at least 1") }
            guard inFlight >= 1 else { throw ValidationError("--in-flight must be at least 1") }
            guard period > 0, intensity >= 0 else { throw ValidationError("--period must be positive and --intensity not negative") }
        }

        func run() async throws {
            var words = command
            if words.first == "--" { words.removeFirst() }
            let name = ((words[0] as NSString).lastPathComponent as NSString).deletingPathExtension
            let stageName = String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
            let folder = FileManager.default.currentDirectoryPath
            if words[0].contains("/") { words[0] = words[0].hasPrefix("/") ? words[0] : "\(folder)/\(words[0])" }
            let pipeline = Pipeline(
                name: "exec",
                queues: [QueueDefinition(name: "lines", maxsize: 4 * n), QueueDefinition(name: "results", maxsize: 4 * n)],
                source: Source(.lines(path: "-"), to: "lines"),
                stages: [Stage(name: stageName.isEmpty ? "worker" : stageName, command: words, entry: entry, count: n, inFlight: inFlight,
                               input: "lines", output: "results",
                               restart: StageRestart(restart: .permanent, strategy: .oneForOne, intensity: intensity,
                                                     period: .milliseconds(Int64(period * 1000))))],
                sink: Sink(.standardOutput, from: "results"))
            let terminal = Terminal()
            var options = PipelineRunner.Options()
            options.ordered = !unordered
            options.workerOutput = WorkerOutput { worker, _, line in
                terminal.line(terminal.paint("\(worker) |", 2) + " " + line, toError: true)
            }
            options.standardOutput = { terminal.line($0) }
            let runner = PipelineRunner(pipeline, options: options)
            Multiprocessing.onInterrupt { _ in await runner.interrupt() }
            let events = Task {
                for await event in runner.events {
                    if case .itemFailed(_, let worker, let item, let error) = event {
                        terminal.line("mpctl exec: \(worker): item \(RunView.shortened(item, 80)) failed: \(error)", toError: true)
                    }
                }
            }
            let summary = await runner.run()
            await events.value
            if let failure = summary.failure {
                terminal.line("mpctl exec: \(failure)", toError: true)
                throw ExitCode(1)
            }
            let failed = summary.snapshot.stages.reduce(0) { $0 + $1.failed }
            if failed > 0 {
                terminal.line("mpctl exec: \(failed) of \(summary.snapshot.sourceRead) items failed", toError: true)
                throw ExitCode(1)
            }
            if summary.outcome == "interrupted" { throw ExitCode(130) }
        }
    }
}
