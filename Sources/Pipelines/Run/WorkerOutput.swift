import Multiprocessing
import Synchronization

/// Where the lines the workers write go: to mpctl's handler (which prefixes them with
/// `stage[n] |` and writes log files), and, for standard error, into a short memory per worker
/// that a failure report quotes (a worker that cannot start usually says why there).
public final class WorkerOutput: Sendable {
    /// How many of a worker's last standard-error lines are kept.
    public static let keptLines = 5
    private let handler: @Sendable (_ worker: String, _ stream: ChildOutputLines.Stream, _ line: String) -> Void
    private let recent = Mutex<[String: [String]]>([:])

    /// `handler` runs on an I/O thread for each line, without its newline: it must be quick.
    public init(_ handler: @escaping @Sendable (_ worker: String, _ stream: ChildOutputLines.Stream, _ line: String) -> Void) {
        self.handler = handler
    }

    /// The output handling of the worker `worker` ("parse[0]").
    func lines(of worker: String) -> ChildOutputLines {
        ChildOutputLines { [self] stream, line in
            if stream == .standardError {
                recent.withLock { recent in
                    var lines = recent[worker, default: []]
                    lines.append(line)
                    if lines.count > Self.keptLines { lines.removeFirst(lines.count - Self.keptLines) }
                    recent[worker] = lines
                }
            }
            handler(worker, stream, line)
        }
    }

    /// "worker: line" for the last standard-error lines of the stage's workers.
    func lastErrorLines(ofWorkersNamed stage: String) -> [String] {
        recent.withLock { recent in
            recent.keys.filter { $0.hasPrefix(stage + "[") }.sorted().flatMap { worker in
                recent[worker, default: []].map { "\(worker): \($0)" }
            }
        }
    }
}
