import Foundation
import Multiprocessing

/// Runs a ``Pipeline``: starts each stage's workers under a supervisor of their own (the
/// stage's restart policy), reads the source into its queue, moves every item through the
/// stages and writes the sink, and ends when the source is drained and every stage has
/// finished. A permanent failure (a stage that cannot start, restart intensity exhausted, a
/// source that fails) stops everything and names the stage and the reason. This is what
/// `mpctl run` does; `mpctl exec` runs a one-stage pipeline with `ordered` output.
///
/// ```swift
/// try await Multiprocessing.bootstrap()              // the workers are started through this program
/// let pipeline = try PipelineFile.load(path: "Examples/LogPipeline/pipeline.yaml")
/// let runner = PipelineRunner(pipeline)
/// let summary = await runner.run()
/// print(summary.outcome, summary.snapshot.sinkWritten)
/// ```
///
/// The stage protocol (Protocols/PROTOCOL.md, "Pipeline stages"): each item reaches one of the
/// stage's workers as a request whose payload is the item; its reply is an array of output
/// items. Stop a run with ``interrupt()``; drive a running one with ``scale(stage:to:)``,
/// ``restart(stage:)`` and ``stop(stage:)``.
public actor PipelineRunner {
    /// How a run behaves around the pipeline itself.
    public struct Options: Sendable {
        /// How long a worker has to exit after its mailbox closed or SIGTERM, before SIGKILL.
        public var grace: Duration = .seconds(5)
        /// The sink writes the outputs of each source item in the source's order (`mpctl exec`).
        public var ordered = false
        /// Where the workers' output lines go; by default to this process's standard output and
        /// error, prefixed with `stage[n] | `.
        public var workerOutput = WorkerOutput { worker, stream, line in
            let text = "\(worker) | \(line)\n"
            (stream == .standardError ? FileHandle.standardError : FileHandle.standardOutput).write(Data(text.utf8))
        }
        /// Where a `stdout` sink's lines go (mpctl routes them around its live view).
        public var standardOutput: @Sendable (String) -> Void = { line in
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }

        public init() {}
    }

    public let pipeline: Pipeline
    public let options: Options
    /// Every event, in order; it ends after the ``PipelineEvent/summary(_:)``. One consumer.
    public nonisolated let events: AsyncStream<PipelineEvent>
    private let eventSink: AsyncStream<PipelineEvent>.Continuation

    private var queues: [String: ItemQueue] = [:]
    private var stages: [StageRunner] = []
    private var source: SourceReader?
    private var sourceTotal: Int?
    private var sourceRead = 0
    private var sinkWritten = 0
    private let started = ContinuousClock.now
    private var failure: PipelineFailure?
    private var interrupted = false
    private var stopped = false

    public init(_ pipeline: Pipeline, options: Options = Options()) {
        self.pipeline = pipeline
        self.options = options
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Runs the pipeline to its end and returns its summary (also the last event).
    public func run() async -> PipelineSummary {
        await runToEnd()
        let summary = PipelineSummary(outcome: failure != nil ? "failed" : (interrupted ? "interrupted" : "completed"),
                                      failure: failure, snapshot: await snapshot())
        eventSink.yield(.summary(summary))
        eventSink.finish()
        return summary
    }

    private func runToEnd() async {
        // The queues, each knowing how many producers end it.
        for definition in pipeline.queues {
            var producers = pipeline.stages.filter { $0.output == definition.name }.count
            if pipeline.source?.queue == definition.name { producers += 1 }
            queues[definition.name] = ItemQueue(name: definition.name, maxsize: definition.maxsize, producers: producers)
        }
        let emit: @Sendable (PipelineEvent) -> Void = { [eventSink] in eventSink.yield($0) }
        // The sink first: a file that cannot be created stops the run before a worker starts.
        var sinkWriter: SinkWriter?
        if let sink = pipeline.sink {
            do {
                sinkWriter = try SinkWriter(sink, ordered: options.ordered, standardOutput: options.standardOutput)
            } catch {
                failure = PipelineFailure(stage: "sink", reason: "\(error)")
                return
            }
        }
        let environment = ProcessInfo.processInfo.environment
        for stage in pipeline.stages {
            guard let input = queues[stage.input] else { continue }
            var stageEnvironment = environment.merging(stage.environment) { $1 }
            // Python stages pass their lines through as they print them.
            if stageEnvironment["PYTHONUNBUFFERED"] == nil { stageEnvironment["PYTHONUNBUFFERED"] = "1" }
            let folder = stage.workingDirectory ?? pipeline.directory ?? FileManager.default.currentDirectoryPath
            guard let program = ProgramPath.resolve(stage.command[0], in: folder, environment: stageEnvironment) else {
                fail(PipelineFailure(stage: stage.name, reason: "command not found: \(stage.command[0])"))
                break
            }
            let runner = StageRunner(stage: stage, input: input, output: stage.output.flatMap { queues[$0] },
                                     keepsGroups: options.ordered, program: program, environment: stageEnvironment,
                                     workingDirectory: folder, outputLines: options.workerOutput, grace: options.grace, emit: emit)
            stages.append(runner)
            do {
                try await runner.start { [weak self] failure in Task { await self?.fail(failure) } }
            } catch let error as PipelineFailure {
                fail(error)
                break
            } catch {
                fail(PipelineFailure(stage: stage.name, reason: "\(error)"))
                break
            }
            if stopped { break }
        }
        if stopped {
            await stopEverything()
            return
        }
        // Queues no stage reads and no sink drains: their items are discarded.
        var drains: [Task<Void, Never>] = []
        let read = Set(pipeline.stages.map(\.input) + [pipeline.sink?.queue].compactMap { $0 })
        for (name, queue) in queues where !read.contains(name) {
            drains.append(Task { while await queue.get() != nil {} })
        }
        let sinkTask: Task<Void, Never>? = sinkWriter.flatMap { writer in
            pipeline.sink.flatMap { queues[$0.queue] }.map { queue in
                Task { await writer.run(from: queue) { [weak self] count in await self?.sinkProgress(count) } }
            }
        }
        if let definition = pipeline.source, let queue = queues[definition.queue] {
            let reader = SourceReader(source: definition, directory: pipeline.directory ?? FileManager.default.currentDirectoryPath)
            source = reader
            sourceTotal = reader.total()
            Task {
                do {
                    try await reader.run(into: queue) { [weak self] count in await self?.sourceProgress(count) }
                } catch {
                    self.fail(PipelineFailure(stage: "source", reason: "\(error)"))
                }
                await queue.producerFinished()
            }
        }
        for stage in stages {
            if let failed = await stage.finish() { fail(failed) }
        }
        await sinkTask?.value
        for drain in drains { await drain.value }
    }

    /// The pipeline now: what the live view draws.
    public func snapshot() async -> PipelineSnapshot {
        var stageSnapshots: [StageSnapshot] = []
        for stage in stages { stageSnapshots.append(await stage.snapshot()) }
        let elapsed = ContinuousClock.now - started
        return PipelineSnapshot(name: pipeline.name,
                                elapsed: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                                sourceRead: sourceRead, sourceTotal: sourceTotal, sinkWritten: sinkWritten, stages: stageSnapshots)
    }

    /// Stops the run as an interrupt does (SIGINT, `mpctl stop`): the source stops, every
    /// stage's workers are stopped, last stage first; ``run()`` then returns "interrupted".
    public func interrupt() async {
        guard failure == nil else { return }
        interrupted = true
        await stopEverything()
    }

    /// Stops one stage's workers (each finishes its item first) and pauses the stage: its
    /// input waits, and what feeds it waits once that is full, until ``scale(stage:to:)``
    /// starts workers again.
    public func stop(stage name: String) async throws {
        try await runner(of: name)?.scale(to: 0)
    }

    /// Restarts every worker of the stage, one after the other (not counted against its
    /// restart intensity).
    public func restart(stage name: String) async throws {
        try await runner(of: name)?.restartWorkers()
    }

    /// Runs `count` workers in the stage from now on.
    public func scale(stage name: String, to count: Int) async throws {
        try await runner(of: name)?.scale(to: count)
    }

    private func runner(of name: String) throws -> StageRunner? {
        guard let stage = stages.first(where: { $0.stage.name == name }) else {
            throw PipelineFailure(stage: name, reason: "no stage is named \(name) (stages: \(pipeline.stages.map(\.name).joined(separator: ", ")))")
        }
        return stage
    }

    // MARK: internals

    private func fail(_ failure: PipelineFailure) {
        guard self.failure == nil, !interrupted else { return }
        self.failure = failure
        Task { await stopEverything() }
    }

    /// The source stops, every queue ends, the stages' workers stop, last stage first.
    private func stopEverything() async {
        guard !stopped else { return }
        stopped = true
        source?.stop()
        for stage in stages { await stage.beginStopping() }
        for queue in queues.values { await queue.abort() }
        for stage in stages.reversed() { await stage.stop() }
    }

    private func sourceProgress(_ count: Int) { sourceRead = count }
    private func sinkProgress(_ count: Int) { sinkWritten = count }
}
