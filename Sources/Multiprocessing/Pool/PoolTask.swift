import NIOCore

/// One input submitted to a ``ProcessPool``: Python's `AsyncResult` / `concurrent.futures.Future`.
///
/// ```swift
/// let task = try pool.submit(7)
/// print(try await task.value)   // 49
/// ```
public final class PoolTask<Output: Sendable>: Sendable {
    let call: PoolCall
    private let scheduler: PoolScheduler
    private let decodeOutputs: @Sendable (ByteBuffer, Int, [Int]) throws -> [Output]

    init(call: PoolCall, scheduler: PoolScheduler, decodeOutputs: @escaping @Sendable (ByteBuffer, Int, [Int]) throws -> [Output]) {
        self.call = call
        self.scheduler = scheduler
        self.decodeOutputs = decodeOutputs
    }

    /// The result, once the input ran; throws its ``PoolError`` (the function's error, the
    /// worker's death, a timeout). Any number of tasks may await it. Cancelling an awaiting
    /// task cancels the input (as ``ProcessPool/apply(_:)``).
    public var value: Output {
        get async throws {
            let event = await withTaskCancellationHandler {
                await call.first()
            } onCancel: {
                cancel()
            }
            switch event {
            case .outputs(_, let count, let bytes, let failed)?:
                guard failed.isEmpty, let output = try decodeOutputs(bytes, count, failed).first else {
                    throw PoolError(.badResult, function: scheduler.function, index: nil, message: "its answer held no result")
                }
                return output
            case .failure(let error)?:
                throw error
            case nil:
                throw CancellationError()
            }
        }
    }

    /// Whether the answer is there (``value`` returns or throws at once): Python's `ready()`.
    public var isDone: Bool { call.hasAnswer }

    /// Cancels the input: if it has not started it never will; if it runs, its worker is told
    /// (or replaced, with ``PoolOptions/replaceWorkerOnCancel``). ``value`` then throws
    /// `CancellationError`.
    public func cancel() {
        call.abandon()
        let scheduler = self.scheduler
        let call = self.call
        scheduler.loop.execute { scheduler.cancel(call) }
    }
}
