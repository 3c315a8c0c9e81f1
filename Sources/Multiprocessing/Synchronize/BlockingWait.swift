import Synchronization

/// Tells a blocking wait running on a wait thread that its task was cancelled. The wait
/// checks it each time it wakes up; ``cancel()`` also runs the wait's own wake-up (a futex
/// wake on the word it sleeps on), so a sleeping wait notices at once.
final class WaitCancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    private let wakeUp: Mutex<(@Sendable () -> Void)?> = Mutex(nil)

    var isCancelled: Bool { flag.load(ordering: .acquiring) }

    /// Sets what ``cancel()`` calls after raising the flag (wakes the sleeper).
    func onCancel(_ body: @escaping @Sendable () -> Void) {
        wakeUp.withLock { $0 = body }
        if isCancelled { body() }
    }

    func cancel() {
        flag.store(true, ordering: .releasing)
        wakeUp.withLock { $0 }?()
    }
}

/// The async forms of the primitives: a blocking wait never runs on Swift's cooperative
/// thread pool (a handful of threads; a few blocked waits would starve every other task).
///
/// Each waiting call gets a dedicated OS thread (``OSThread``) that runs the synchronous wait
/// and then the caller's non-async body, and resumes the task with the result. A thread per
/// wait costs some tens of microseconds to start, which a wait that has to sleep can afford;
/// every async form first tries once without waiting on the task itself. Task cancellation
/// raises the wait's ``WaitCancellation`` and wakes it; the wait then ends with
/// `CancellationError` (leaving the primitive as if the wait had never been tried; a
/// ``Barrier`` wait is the exception: a party leaving breaks the barrier, as a timeout does).
enum BlockingWait {
    /// Runs `body` on a new thread and returns its result. If no thread can be started,
    /// `ifNoThread` runs (to undo what the caller did on the task) and a `systemCallFailed`
    /// error is thrown.
    static func run<R: Sendable>(_ what: String, ifNoThread: (@Sendable () -> Void)? = nil,
                                 _ body: @escaping @Sendable (WaitCancellation) throws -> R) async throws -> R {
        let cancellation = WaitCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                do throws(SystemError) {
                    try OSThread.start(name: "mp-wait") {
                        continuation.resume(with: Result { try body(cancellation) })
                    }
                } catch {
                    ifNoThread?()
                    continuation.resume(throwing: SynchronizationError(.systemCallFailed, "\(what): starting a wait thread failed",
                                                                       underlyingError: .system(error)))
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }
}
