import Logging
import Synchronization

/// Every line the runtime logs while it is installed as `Multiprocessing.logger`'s handler,
/// with its level and metadata: how a test observes the runtime's log instead of its stderr.
///
/// ```swift
/// let log = LogCapture()
/// Multiprocessing.logger = Logger(label: "multiprocessing") { _ in log.handler() }
/// ```
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let lines = Mutex<[Line]>([])

    /// A handler (a value, copied into the logger) that appends to this capture.
    func handler() -> Handler { Handler(capture: self) }

    struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }.mapValues { "\($0)" }
            capture.lines.withLock { $0.append(Line(level: event.level, message: "\(event.message)", metadata: merged)) }
        }
    }
}
