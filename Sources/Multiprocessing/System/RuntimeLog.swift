import Logging
import Synchronization

/// The runtime's diagnostics, through swift-log: every folder writes here (`RuntimeLog.warning`),
/// the public accessor is ``Multiprocessing/logger``. Python's `multiprocessing.util` logger:
/// silent below warnings by default, with warnings and errors on standard error as one line
/// each (the behaviour of Python's `lastResort` handler), until the program routes it elsewhere.
enum RuntimeLog {
    /// The logger's label, Python's logger name.
    static let label = "multiprocessing"

    private static let current = Mutex<Logger>(defaultLogger())

    /// The logger the runtime writes to.
    static var logger: Logger {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    /// Warnings and above, on standard error as the lines the runtime always wrote.
    static func defaultLogger() -> Logger {
        var logger = Logger(label: label) { _ in StandardErrorLogHandler(format: .plain) }
        logger.logLevel = .warning
        return logger
    }

    /// Something went wrong and the runtime carried on: a frame dropped, a queue past its budget.
    /// `message` is the whole line, "[who] what" (no newline); `metadata` names what it is
    /// about for a handler that filters (`worker`, `pid`, `queue`, `peer`).
    static func warning(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        logger.warning(Logger.Message(stringLiteral: message()), metadata: metadata())
    }

    /// Something the runtime could not do, or a child it had to give up on.
    static func error(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        logger.error(Logger.Message(stringLiteral: message()), metadata: metadata())
    }

    /// What the runtime does, step by step (Python's `util.debug`); silent by default.
    static func debug(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        logger.debug(Logger.Message(stringLiteral: message()), metadata: metadata())
    }
}

/// A swift-log handler writing one line per message to standard error with one `write`, so
/// that lines of several processes sharing the terminal do not interleave inside a line.
struct StandardErrorLogHandler: LogHandler {
    /// How a line looks.
    enum Format: Sendable {
        /// The message alone (the runtime's own lines carry their "[who]" prefix).
        case plain
        /// Python's `log_to_stderr` format, `[LEVEL/ProcessName] message`.
        case python(processName: String)
    }

    let format: Format
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message, metadata = event.metadata
        var text: String
        switch format {
        case .plain:
            // The line the runtime always wrote: its message names what the metadata does.
            ProcessEnvironment.writeError("\(message)\n")
            return
        case .python(let processName): text = "[\(level.rawValue.uppercased())/\(processName)] \(message)"
        }
        let merged = self.metadata.merging(metadata ?? [:]) { _, new in new }
        if !merged.isEmpty {
            text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        ProcessEnvironment.writeError(text + "\n")
    }
}
