import Foundation
import Logging
import Synchronization
import Testing
@testable import Multiprocessing

/// `Multiprocessing.logger`: swift-log, label "multiprocessing", warnings and above by
/// default, settable so a program routes it; `logToStderr(level:)` as Python's.
@Suite(.serialized) struct LoggingTests {
    /// Where ``BoxHandler`` (a value, copied into the logger) keeps its lines.
    final class Box: Sendable { let lines = Mutex<[String]>([]) }

    @Test func theDefaultLoggerIsNamedMultiprocessingAndWritesWarningsAndAbove() {
        let logger = RuntimeLog.defaultLogger()
        #expect(logger.label == "multiprocessing")
        #expect(logger.logLevel == .warning)
    }

    @Test func aLoggerSetByTheProgramReceivesTheRuntimesLines() {
        let saved = Multiprocessing.logger
        defer { Multiprocessing.logger = saved }
        let box = Box()
        Multiprocessing.logger = Logger(label: "multiprocessing") { _ in BoxHandler(box: box) }
        Multiprocessing.logger.logLevel = .debug
        RuntimeLog.warning("[supervisor] a frame was dropped")
        RuntimeLog.debug("a step")
        #expect(box.lines.withLock { $0 } == ["warning [supervisor] a frame was dropped", "debug a step"])
    }

    @Test func logToStderrSetsTheLevelAndReturnsTheLogger() {
        let saved = Multiprocessing.logger
        defer { Multiprocessing.logger = saved }
        let logger = Multiprocessing.logToStderr(level: .info)
        #expect(logger.logLevel == .info)
        #expect(Multiprocessing.logger.logLevel == .info)
        #expect(Multiprocessing.logger.label == "multiprocessing")
    }

    /// Keeps every line it is given, as "level message".
    struct BoxHandler: LogHandler {
        let box: Box
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            box.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }
}
