import Synchronization

/// How a timed wait ended. Exactly one of the three wins.
enum TimedOutcome<Value: Sendable>: Sendable {
    case value(Value)
    case timedOut
    case cancelled
}

/// The resume-once side of a timed wait (``TimedWait/wait(until:timer:onEnd:_:)``): whoever
/// calls ``resume(returning:)``, ``timeOut()`` or ``cancel()`` first ends the wait; the
/// others get `false` and own what they brought (a value that lost is theirs to drop). Safe
/// from any thread, before or after the waiting task suspended.
final class ResumeOnce<Value: Sendable>: Sendable {
    /// Settled by the lock: the first `finish` claims `outcome`, so the continuation is
    /// resumed once and `onEnd` runs once, before the resume (`ended`: `onEnd` has run).
    private struct Box {
        var continuation: CheckedContinuation<TimedOutcome<Value>, Never>?
        var outcome: TimedOutcome<Value>?
        var ended = false
    }
    private let box = Mutex<Box>(Box())
    private let onEnd: @Sendable (TimedOutcome<Value>) -> Void

    /// `onEnd` runs once, with the outcome that won. Made outside ``TimedWait`` it is a
    /// callback nobody awaits (`ChildRecord.requestInOrder`).
    init(onEnd: @escaping @Sendable (TimedOutcome<Value>) -> Void) { self.onEnd = onEnd }

    /// Ends the wait with `value`; false if it had already ended (the value lost).
    @discardableResult
    func resume(returning value: Value) -> Bool { finish(.value(value)) }

    /// Ends the wait at its deadline; false if it had already ended.
    @discardableResult
    func timeOut() -> Bool { finish(.timedOut) }

    /// Ends the wait as cancelled; false if it had already ended.
    @discardableResult
    func cancel() -> Bool { finish(.cancelled) }

    /// Whether the wait has ended (an outcome won).
    var isFinished: Bool { box.withLock { $0.outcome != nil } }

    /// Whether the wait has ended and its `onEnd` ran: a suspend now resumes at once.
    fileprivate var isSettled: Bool { box.withLock { $0.ended } }

    private func finish(_ outcome: TimedOutcome<Value>) -> Bool {
        let won = box.withLock { box -> Bool in
            guard box.outcome == nil else { return false }
            box.outcome = outcome
            return true
        }
        guard won else { return false }
        onEnd(outcome)
        let continuation = box.withLock { box -> CheckedContinuation<TimedOutcome<Value>, Never>? in
            box.ended = true
            defer { box.continuation = nil }
            return box.continuation
        }
        continuation?.resume(returning: outcome)
        return true
    }

    fileprivate func suspend(_ continuation: CheckedContinuation<TimedOutcome<Value>, Never>) {
        let ready: TimedOutcome<Value>? = box.withLock { box in
            if box.ended, let outcome = box.outcome { return outcome }
            box.continuation = continuation   // the winner resumes it once its `onEnd` ran
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }
}

/// The one "continuation with a deadline and cancellation" of the runtime: a waiting task,
/// a value that may come from any thread, a deadline and the task's cancellation race, and
/// exactly one wins (``ResumeOnce``). What lost is cleaned up: the timer is cancelled when
/// the wait ends, and `onEnd` (run once, by the winner) undoes the registration.
enum TimedWait {
    /// Arms a one-shot timer that calls `fire` at `deadline`; returns what cancels it.
    typealias Timer = @Sendable (_ deadline: ContinuousClock.Instant, _ fire: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)

    /// A timer that sleeps in a task: for waits that have no loop or thread of their own
    /// to keep the deadline.
    static let taskTimer: Timer = { deadline, fire in
        let task = Task {
            guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
            fire()
        }
        return { task.cancel() }
    }

    /// Runs `register` with the wait's ``ResumeOnce`` (hand it to whoever delivers the
    /// value), then suspends until a value, `deadline` (nil: none) or the task's cancellation.
    /// `timer` keeps the deadline (a NIO loop's `scheduleTask`, or ``taskTimer``); a caller
    /// that keeps the deadline itself passes nil as `deadline` and calls `timeOut()`.
    /// `onEnd` runs once with the outcome that won, before the task resumes. With a `spin`
    /// gate the caller first looks for the outcome for up to ``SpinPolicy/window`` (when the
    /// gate allows): a value that comes within it is taken without suspending, which saves the
    /// wake-up of a thread of Swift's pool (about 25 us here). Only for a caller that is not
    /// the thread that delivers the value.
    static func wait<Value: Sendable>(
        until deadline: ContinuousClock.Instant? = nil,
        timer: Timer = TimedWait.taskTimer,
        spin: SpinGate? = nil,
        onEnd: @escaping @Sendable (TimedOutcome<Value>) -> Void = { _ in },
        _ register: (ResumeOnce<Value>) -> Void
    ) async -> TimedOutcome<Value> {
        let disarm = Mutex<(@Sendable () -> Void)?>(nil)
        let once = ResumeOnce<Value> { outcome in
            disarm.withLock { $0 }?()
            onEnd(outcome)
        }
        if Task.isCancelled { once.cancel() }
        register(once)
        if let deadline, !once.isFinished {
            let cancelTimer = timer(deadline) { once.timeOut() }
            disarm.withLock { $0 = cancelTimer }
            if once.isFinished { cancelTimer() }   // it ended while the timer was being armed
        }
        if let spin, !once.isSettled, spin.shouldSpin() {
            spin.record(found: spinUntil(window: SpinPolicy.window) { once.isSettled })
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { once.suspend($0) }
        } onCancel: {
            once.cancel()
        }
    }
}
