import ArgumentParser
import Foundation
import Multiprocessing
import Pipelines

extension MPCtl {
    /// `mpctl run FILE`: runs a pipeline to its end under supervision.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Runs a pipeline file until its source is drained and every stage has finished.",
            discussion: """
                Starts each stage's workers under its restart policy, reads the source, moves every \
                item through the stages to the sink, and exits 0 when all is done. A permanent \
                failure (a stage that cannot start, restart intensity exhausted, a failing source) \
                stops everything, prints a summary naming the stage and the reason, and exits 1. \
                On a terminal a live table shows each stage; otherwise a progress line every \
                --interval seconds; --json prints one JSON event per line (docs/MPCTL.md). Workers' \
                output passes through prefixed with `stage[n] |`. Ctrl-C (or SIGTERM) stops the \
                stages in order and prints the summary; a second Ctrl-C kills at once. While it \
                runs, `mpctl status`, `stop`, `restart` and `scale` reach it through its control socket.
                """
        )

        @Argument(help: "The pipeline file (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var file: String

        @Flag(help: "Print one JSON event per line on standard output instead of the live view.")
        var json = false

        @Flag(help: "Print a plain progress line every --interval seconds, even on a terminal.")
        var plain = false

        @Option(help: "Seconds between progress lines (--plain, or not a terminal) and progress events (--json).")
        var interval: Double = 2

        @Option(name: .customLong("log-dir"), help: "Also write each worker's output to DIR/WORKER.log.", completion: .directory)
        var logDirectory: String?

        @Flag(name: .customLong("no-color"), help: "No colors, even on a terminal.")
        var noColor = false

        @Option(help: "Seconds a worker has to exit at the end (or when stopped) before it is killed.")
        var grace: Double = 5

        @Flag(name: .customLong("no-control"), help: "Do not open a control socket.")
        var noControl = false

        func validate() throws {
            guard interval > 0 else { throw ValidationError("--interval must be positive") }
            guard grace >= 0 else { throw ValidationError("--grace must not be negative") }
        }

        func run() async throws {
            let pipeline: Pipeline
            do {
                pipeline = try PipelineFile.load(path: file)
            } catch {
                for diagnostic in error.diagnostics { printError(diagnostic.description) }
                printError("\(file): \(error.diagnostics.count) error\(error.diagnostics.count == 1 ? "" : "s"); nothing was started")
                throw ExitCode(1)
            }
            if json, case .standardOutput = pipeline.sink?.kind {
                printError("\(file): the sink writes to stdout, where --json writes its events: give the sink a file")
                throw ExitCode(1)
            }
            let terminal = Terminal(colors: noColor ? false : nil)
            let mode: RunView.Mode = json ? .json : (plain || !terminal.isInteractive ? .plain : .live)
            let view = RunView(mode: mode, terminal: terminal)
            let logs = try logDirectory.map { try WorkerLogs(directory: $0) }
            let sinkIsStandardOutput = pipeline.sink.map { if case .standardOutput = $0.kind { true } else { false } } ?? false

            var options = PipelineRunner.Options()
            options.grace = .milliseconds(Int64(grace * 1000))
            options.workerOutput = WorkerOutput { worker, stream, line in
                logs?.write(line, of: worker)
                let stage = String(worker.prefix { $0 != "[" })
                let prefix = terminal.paint("\(worker) |", terminal.color(forStage: stage))
                // Standard output stays the sink's (or the events') when it is theirs.
                terminal.line(prefix + " " + line, toError: stream == .standardError || sinkIsStandardOutput || json)
            }
            options.standardOutput = { terminal.line($0) }
            let runner = PipelineRunner(pipeline, options: options)
            let done = Completion()

            var control: ControlServer?
            if !noControl {
                do {
                    control = try ControlServer(pipelineName: pipeline.name, runner: runner)
                } catch {
                    // The run goes on; only `mpctl status` and friends cannot reach it.
                    terminal.line("mpctl: no control socket: \(error)", toError: true)
                }
            }
            Multiprocessing.onInterrupt { signal in
                await done.interrupted(by: signal)
                await runner.interrupt()
                await done.wait()
            }
            let events = Task {
                for await event in runner.events {
                    if case .summary = event { continue }
                    view.show(event)
                }
            }
            let refresh: Duration = mode == .live ? .milliseconds(200) : .milliseconds(Int64(interval * 1000))
            let ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: refresh)
                    if Task.isCancelled { break }
                    view.tick(await runner.snapshot())
                }
            }
            let summary = await runner.run()
            ticker.cancel()
            await ticker.value
            await events.value
            view.finish(summary)
            control?.close()
            logs?.close()
            await done.signal()
            let status = summary.exitStatus(signal: await done.signalNumber)
            if status != 0 { throw ExitCode(status) }
        }
    }
}

/// Signalled once, awaited by any number.
actor Completion {
    private var done = false
    /// The signal that interrupted the run (SIGINT when none did).
    private(set) var signalNumber: Int32 = 2

    func interrupted(by signal: Int32) { signalNumber = signal }

    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if done { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func signal() {
        done = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

/// `--log-dir`: each worker's lines, unprefixed, in `DIR/WORKER.log` (appended).
final class WorkerLogs: @unchecked Sendable {
    private let directory: String
    private let lock = NSLock()
    private var files: [String: FileHandle] = [:]

    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
    }

    func write(_ line: String, of worker: String) {
        lock.withLock {
            if files[worker] == nil {
                let path = "\(directory)/\(worker).log"
                if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
                files[worker] = FileHandle(forWritingAtPath: path)
                _ = try? files[worker]?.seekToEnd()
            }
            try? files[worker]?.write(contentsOf: Data((line + "\n").utf8))
        }
    }

    func close() {
        lock.withLock {
            for file in files.values { try? file.close() }
            files.removeAll()
        }
    }
}
