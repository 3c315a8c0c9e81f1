import Multiprocessing

/// What happens while a pipeline runs, in order, as ``PipelineRunner/events`` delivers it: for
/// mpctl's views (`--json` writes each as one line; docs/MPCTL.md gives the schema).
public enum PipelineEvent: Sendable, Hashable {
    /// A stage's worker started (again, after a restart).
    case started(stage: String, worker: String, pid: Int32)
    /// A stage's worker ended; `status` as ``TerminationStatus`` describes it.
    case exited(stage: String, worker: String, status: String)
    /// A stage's worker is being restarted by its policy (or by an operator).
    case restarting(stage: String, worker: String)
    /// A worker answered an item with an error: that item is dropped, the pipeline goes on.
    case itemFailed(stage: String, worker: String, item: String, error: String)
    /// A stage scaled to `workers` copies (`mpctl scale`).
    case scaled(stage: String, workers: Int)
    /// The pipeline ended: everything about it.
    case summary(PipelineSummary)
}

/// One stage as the live view shows it.
public struct StageSnapshot: Sendable, Hashable, Codable {
    public var name: String
    /// Workers running now, and how many the stage should have.
    public var alive: Int
    public var total: Int
    /// Restarts since the start (by policy or by an operator).
    public var restarts: Int
    /// Items taken from the input queue, and items put on the output queue (or dropped, for a
    /// stage without one).
    public var itemsIn: Int
    public var itemsOut: Int
    /// Items answered with an error.
    public var failed: Int
    /// Items sent again to a restarted worker because the one that had them died.
    public var redelivered: Int
    /// Items waiting in the stage's input queue, and its maximum (0: unbounded).
    public var queueDepth: Int
    public var queueMaxsize: Int
    /// The resident memory of its live workers together, in bytes.
    public var rssBytes: Int
    /// "starting", "running", "done" or "failed".
    public var state: String
}

/// The whole pipeline at one moment.
public struct PipelineSnapshot: Sendable, Hashable, Codable {
    public var name: String
    /// Seconds since the start.
    public var elapsed: Double
    /// Items the source has read, and how many it will read when that is known (a file's lines,
    /// a range), for a progress bar.
    public var sourceRead: Int
    public var sourceTotal: Int?
    /// Items the sink has written.
    public var sinkWritten: Int
    public var stages: [StageSnapshot]
}

/// How a pipeline ended.
public struct PipelineSummary: Sendable, Hashable, Codable {
    /// "completed" (the source drained and every stage finished), "failed" or "interrupted".
    public var outcome: String
    /// Why it failed, naming the stage.
    public var failure: PipelineFailure?
    public var snapshot: PipelineSnapshot

    /// The exit status mpctl ends with: 0 when completed, 1 when failed, 128 + the signal when
    /// interrupted.
    public func exitStatus(signal: Int32 = 2) -> Int32 {
        switch outcome {
        case "completed": return 0
        case "interrupted": return 128 + signal
        default: return 1
        }
    }
}

/// Why a pipeline stopped before its end: the stage, the reason, and the last lines its
/// workers wrote to standard error (what a worker that cannot start usually says).
public struct PipelineFailure: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var stage: String
    public var reason: String
    /// "worker: line", oldest first, at most a few per worker.
    public var lastErrorLines: [String]

    public init(stage: String, reason: String, lastErrorLines: [String] = []) {
        self.stage = stage
        self.reason = reason
        self.lastErrorLines = lastErrorLines
    }

    public var description: String {
        var text = "stage \(stage): \(reason)"
        if !lastErrorLines.isEmpty {
            text += "\nlast lines on its workers' standard error:\n" + lastErrorLines.map { "  " + $0 }.joined(separator: "\n")
        }
        return text
    }
}
