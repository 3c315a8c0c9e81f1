import Synchronization

/// A child's requests that await answers, by correlation id: a waiting task's continuation,
/// or a callback run on the run loop's thread (a queue's get survives its caller's
/// cancellation, so nothing it fetched is lost). Once the channel ended nothing more is
/// registered, and whoever waited learns that no answer will come.
final class ReplyTable: Sendable {
    typealias Handler = @Sendable (Result<FrameBody, any Error>) -> Void

    private struct State {
        var waiters: [UInt64: CheckedContinuation<FrameBody, any Error>] = [:]
        var handlers: [UInt64: Handler] = [:]
        var ended = false
    }
    private let state = Mutex(State())
    private let correlations = Atomic<UInt64>(2)   // 1 is a function argument's

    /// A correlation id for a request of this child.
    func nextCorrelation() -> UInt64 { correlations.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Registers `continuation` for the answer to `correlation`; false once the channel ended.
    func register(_ continuation: CheckedContinuation<FrameBody, any Error>, for correlation: UInt64) -> Bool {
        state.withLock { state in
            if state.ended { return false }
            state.waiters[correlation] = continuation
            return true
        }
    }

    /// Registers `handler` for the answer to `correlation`; false once the channel ended.
    func register(handler: @escaping Handler, for correlation: UInt64) -> Bool {
        state.withLock { state in
            if state.ended { return false }
            state.handlers[correlation] = handler
            return true
        }
    }

    /// The continuation waiting for `correlation`, taken out (a timeout, a cancellation, a
    /// failed write resumes it).
    func takeWaiter(_ correlation: UInt64) -> CheckedContinuation<FrameBody, any Error>? {
        state.withLock { $0.waiters.removeValue(forKey: correlation) }
    }

    /// The handler waiting for `correlation`, taken out.
    func takeHandler(_ correlation: UInt64) -> Handler? {
        state.withLock { $0.handlers.removeValue(forKey: correlation) }
    }

    /// Hands an answer to the request that waits for it (dropped if none does).
    func resolve(_ body: FrameBody) {
        let correlation = body.envelope.correlation
        if let handler = takeHandler(correlation) {
            handler(.success(body))
            return
        }
        takeWaiter(correlation)?.resume(returning: body)
    }

    /// The channel ended: every waiting request fails with `error`, and no new one registers.
    func end(with error: any Error) {
        let (waiters, handlers) = state.withLock { state in
            state.ended = true
            defer { state.waiters.removeAll(); state.handlers.removeAll() }
            return (Array(state.waiters.values), Array(state.handlers.values))
        }
        for waiter in waiters { waiter.resume(throwing: error) }
        for handler in handlers { handler(.failure(error)) }
    }
}
