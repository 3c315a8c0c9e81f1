/// A started ``ProcessFunction``: the child, and its result to come. What
/// ``ChildProcess/start(_:_:options:)`` returns for a function, so the result is awaited
/// without naming the function again (Python's `Process` with a return value, or a future).
///
/// ```swift
/// let square = ProcessFunction("square") { (x: Int) in x * x }
/// let task = try await ChildProcess.start(square, 7)
/// print(task.name)                 // "Process-1"
/// print(try await task.value)      // 49
/// print(try await task.join()!)    // exited with code 0
/// ```
///
/// It is the ``ChildProcess`` running the function (`join`, `terminate`, `kill`, `close`,
/// `pid`, `name`, ``Multiprocessing/wait(for:timeout:)``), typed by the function's result.
// Unchecked: its one stored property is an immutable `@Sendable` closure; `ChildProcess` says why it is.
public final class ProcessTask<Output: Sendable>: ChildProcess, @unchecked Sendable {
    // @unchecked: ChildProcess's rule (immutable state); this adds one `let` Sendable closure.
    private let decodeResult: @Sendable (FrameBody) throws -> Output

    init(_ child: ChildProcess, decodeResult: @escaping @Sendable (FrameBody) throws -> Output) {
        self.decodeResult = decodeResult
        super.init(child.record)
    }

    /// The function's result, waiting as long as it takes. Throws a ``RemoteError`` if the
    /// function threw, ``ProcessError/Code/childExited`` if the child ended without answering.
    /// Honours task cancellation; asking again returns the same result.
    public var value: Output {
        get async throws { try await result(timeout: nil) }
    }

    /// The function's result, waiting up to `timeout` (nil: no limit; negative means zero):
    /// ``ProcessError/Code/timedOut`` when it passes, and the child keeps running. Otherwise
    /// as ``value``.
    public func result(timeout: Duration?) async throws -> Output {
        try await result(timeout: timeout, decode: decodeResult)
    }

    public override var description: String { "ProcessTask(\(name), pid \(pid), \(status.map { "\($0)" } ?? "alive"))" }
}
