import Foundation
import Logging
import Synchronization
import Testing
@testable import Multiprocessing

/// `Multiprocessing.logger`: swift-log, label "multiprocessing", warnings and above by
/// default, settable so a program routes it; `logToStderr(level:)` as Python's.
@Suite(.serialized) struct LoggingTests {
    @Test func theDefaultLoggerIsNamedMultiprocessingAndWritesWarningsAndAbove() {
        let logger = RuntimeLog.defaultLogger()
        #expect(logger.label == "multiprocessing")
        #expect(logger.logLevel == .warning)
    }

    @Test func aLoggerSetByTheProgramReceivesTheRuntimesLines() {
        let saved = Multiprocessing.logger
        defer { Multiprocessing.logger = saved }
        let log = LogCapture()
        Multiprocessing.logger = Logger(label: "multiprocessing") { _ in log.handler() }
        Multiprocessing.logger.logLevel = .debug
        RuntimeLog.warning("[supervisor] a frame was dropped")
        RuntimeLog.debug("a step")
        #expect(log.lines.withLock { $0.map { "\($0.level) \($0.message)" } } == ["warning [supervisor] a frame was dropped", "debug a step"])
    }

    @Test func logToStderrSetsTheLevelAndReturnsTheLogger() {
        let saved = Multiprocessing.logger
        defer { Multiprocessing.logger = saved }
        let logger = Multiprocessing.logToStderr(level: .info)
        #expect(logger.logLevel == .info)
        #expect(Multiprocessing.logger.logLevel == .info)
        #expect(Multiprocessing.logger.label == "multiprocessing")
    }
}
