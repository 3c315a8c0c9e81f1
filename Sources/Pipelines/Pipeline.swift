import Multiprocessing

/// A pipeline as `mpctl` runs it: named queues, a source that feeds one of them, stages of
/// worker processes that take items from one queue and put what they make on another, and a
/// sink that drains the last. Read from a YAML pipeline file by ``PipelineFile``; run by
/// ``PipelineRunner``.
///
/// ```yaml
/// name: logs
/// queues:
///   lines: {maxsize: 1000}
///   parsed: {maxsize: 1000}
/// source: {lines: access.log, to: lines}
/// stages:
///   - name: parse
///     command: [python3, parse.py]
///     count: 2
///     input: lines
///     output: parsed
///     restart: {policy: permanent, strategy: oneForOne, intensity: 3, period: 5}
/// sink: {from: parsed, file: out.txt}
/// ```
///
/// The stage protocol (Protocols/PROTOCOL.md, "Pipeline stages"): a stage's worker is a child
/// that speaks the wire protocol on fds 3 and 4; each input item reaches it as one `request`
/// whose payload is the item, and its `reply` is an array of zero or more output items (a
/// filter answers `[]`, a splitter several). An `error` answer fails that item only.
public struct Pipeline: Sendable, Hashable {
    /// The pipeline's name (in the live view and the summary); the file's name when absent.
    public var name: String
    /// The queues between the source, the stages and the sink, in file order.
    public var queues: [QueueDefinition]
    /// Where items come from; a pipeline without one starts with empty queues.
    public var source: Source?
    /// The stages, in file order.
    public var stages: [Stage]
    /// Where the last items go; none: the items of queues no stage reads are discarded.
    public var sink: Sink?
    /// The folder the file's relative paths start from, where stages and a source command run
    /// unless they name another; mpctl's current folder when nil.
    public var directory: String?

    public init(name: String, queues: [QueueDefinition] = [], source: Source? = nil, stages: [Stage] = [], sink: Sink? = nil) {
        self.name = name
        self.queues = queues
        self.source = source
        self.stages = stages
        self.sink = sink
    }

    /// The queue named `name`, if the pipeline declares it.
    public func queue(_ name: String) -> QueueDefinition? { queues.first { $0.name == name } }
}

/// A named queue between stages.
public struct QueueDefinition: Sendable, Hashable {
    public var name: String
    /// The most items it holds before its producers wait; 0: unbounded (Python's `Queue()`).
    public var maxsize: Int

    public init(name: String, maxsize: Int = 0) {
        self.name = name
        self.maxsize = maxsize
    }
}

/// Where a pipeline's items come from, and the queue they are put on.
public struct Source: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Each line of a file (without its newline), as a string item; "-" is standard input.
        case lines(path: String)
        /// Each line a command writes to its standard output, as a string item.
        case command([String])
        /// The integers `start..<stop` by `step`, as integer items (Python's `range`).
        case range(start: Int, stop: Int, step: Int)
    }
    public var kind: Kind
    /// The queue the items are put on.
    public var queue: String

    public init(_ kind: Kind, to queue: String) {
        self.kind = kind
        self.queue = queue
    }
}

/// Where a pipeline's results go: each item of a queue, one per line.
public struct Sink: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Standard output.
        case standardOutput
        /// A file, created or truncated.
        case file(path: String)
    }
    public var kind: Kind
    /// The queue it drains.
    public var queue: String

    public init(_ kind: Kind, from queue: String) {
        self.kind = kind
        self.queue = queue
    }
}

/// One stage: `count` copies of a worker command, supervised by its restart policy.
public struct Stage: Sendable, Hashable {
    public var name: String
    /// The program and its arguments (a program without a slash is looked up on `PATH`; a
    /// relative path is from the pipeline file's folder).
    public var command: [String]
    /// For a Swift program that registers several entries: the one to run (`MP_ENTRY`);
    /// nil for a program that speaks the protocol by itself (a Python script).
    /// A Swift program started without one takes itself for a root process.
    public var entry: String?
    /// How many copies run at once.
    public var count: Int
    /// At most how many items each worker is sent ahead of its answers (its pipe holds the
    /// next ones while it works on one), which hides the round trip of short items. More than
    /// one is sent only while the worker answers within 5 ms, so long items still go
    /// one at a time. At least 1; 1 turns sending ahead off.
    public var inFlight: Int
    /// The queue it takes items from.
    public var input: String
    /// The queue its outputs are put on; nil: its replies are counted and dropped.
    public var output: String?
    public var restart: StageRestart
    /// Added to (and overriding) mpctl's environment.
    public var environment: [String: String]
    /// Its working directory; the pipeline file's folder when nil.
    public var workingDirectory: String?

    /// Items sent ahead to each worker when a file does not say.
    public static let defaultInFlight = 16

    public init(name: String, command: [String], entry: String? = nil, count: Int = 1, inFlight: Int = Stage.defaultInFlight,
                input: String, output: String? = nil,
                restart: StageRestart = StageRestart(), environment: [String: String] = [:], workingDirectory: String? = nil) {
        self.name = name
        self.command = command
        self.entry = entry
        self.count = count
        self.inFlight = max(1, inFlight)
        self.input = input
        self.output = output
        self.restart = restart
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

/// A stage's restart policy, in OTP's terms.
public struct StageRestart: Sendable, Hashable {
    /// Which exits are restarted: `permanent` (any), `transient` (abnormal ones), `temporary` (none).
    public var restart: RestartPolicy
    /// Which of the stage's workers restart with a crashed one.
    public var strategy: RestartStrategy
    /// At most this many restarts within `period`; one more is a permanent failure.
    public var intensity: Int
    public var period: Duration

    public init(restart: RestartPolicy = .permanent, strategy: RestartStrategy = .oneForOne, intensity: Int = 3, period: Duration = .seconds(5)) {
        self.restart = restart
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
    }
}
