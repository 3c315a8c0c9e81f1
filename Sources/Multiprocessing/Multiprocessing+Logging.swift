import Logging

extension Multiprocessing {
    /// The runtime's logger: swift-log, label "multiprocessing" (Python's
    /// `multiprocessing.get_logger()`). By default it writes warnings and errors to standard
    /// error, one line each ("[supervisor] stopped Process-2 (pid 4242): ..."), and drops the
    /// rest. Set it to route the runtime's lines into the program's own logging:
    ///
    /// ```swift
    /// LoggingSystem.bootstrap(MyLogHandler.init)          // the program's choice, once
    /// Multiprocessing.logger = Logger(label: "multiprocessing")
    /// Multiprocessing.logger.logLevel = .debug             // every step the runtime reports
    /// ```
    ///
    /// Each process has its own: a child starts with the default, whatever its parent set.
    public static var logger: Logger {
        get { RuntimeLog.logger }
        set { RuntimeLog.logger = newValue }
    }

    /// Sends the runtime's lines at `level` and above to standard error as
    /// `[LEVEL/ProcessName] message`, and returns the logger: Python's `log_to_stderr(level)`.
    ///
    /// ```swift
    /// Multiprocessing.logToStderr(level: .info)
    /// ```
    @discardableResult
    public static func logToStderr(level: Logger.Level = .warning) -> Logger {
        let processName = currentProcess.name
        var logger = Logger(label: RuntimeLog.label) { _ in StandardErrorLogHandler(format: .python(processName: processName)) }
        logger.logLevel = level
        RuntimeLog.logger = logger
        return logger
    }
}
