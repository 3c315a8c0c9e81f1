import NIOCore
import Synchronization

/// One call's answers (a `map`, an `imap`, a `submit`) as the supervisor's loop hands them
/// over: the outputs of consecutive inputs, still encoded, and failures, in arrival order. The
/// caller's task takes them in batches and decodes them, so the loop never decodes a result.
final class PoolCall: Sendable {
    /// What the loop hands over.
    enum Event: Sendable {
        /// The outputs of inputs `first..<first+count` (a msgpack array; the slots at
        /// `failed`, offsets relative to `first`, are nil and come as failures too).
        case outputs(first: Int, count: Int, bytes: ByteBuffer, failed: [Int])
        /// One input failed for good.
        case failure(PoolError)
    }

    private struct State {
        var events: [Event] = []
        var waiter: CheckedContinuation<[Event], Never>?
        /// A single input's call (a submit): its one answer, kept for every awaiter.
        var first: Event?
        var firstWaiters: [CheckedContinuation<Event?, Never>] = []
        /// The caller stopped listening (cancelled): later events are dropped.
        var abandoned = false
    }

    /// The call's number in its pool, for cancelling it.
    let id: UInt64
    private let state = Mutex(State())

    init(id: UInt64, spin: SpinGate? = nil) {
        self.id = id
        self.spin = spin
    }

    /// Hands over `events` (on the loop); wakes the caller if it waits.
    func deliver(_ events: [Event]) {
        let (waiter, firstWaiters, first) = state.withLock { state -> (CheckedContinuation<[Event], Never>?, [CheckedContinuation<Event?, Never>], Event?) in
            guard !state.abandoned else { return (nil, [], nil) }
            if state.first == nil { state.first = events.first }
            let firstWaiters = state.firstWaiters
            state.firstWaiters = []
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, firstWaiters, state.first)
            }
            state.events.append(contentsOf: events)
            return (nil, firstWaiters, state.first)
        }
        waiter?.resume(returning: events)
        for firstWaiter in firstWaiters { firstWaiter.resume(returning: first) }
    }

    /// The first event delivered (a single input's answer), for any number of awaiters; nil
    /// once the call was abandoned.
    func first() async -> Event? {
        if spinForAnswer() { return state.withLock { $0.first } }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Event?? in
                if let first = state.first { return .some(first) }
                if state.abandoned { return .some(nil) }
                state.firstWaiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// How the awaiters of single answers spin (see ``spinForAnswer()``), per pool.
    let spin: SpinGate?

    /// Looks for the answer for up to ``SpinPolicy/window`` before the caller suspends: a
    /// submit's answer usually comes within that, and a caller still awake saves the wake-up
    /// of a thread of Swift's pool (about 25 us here, a third of a round trip). Adaptive, as
    /// every spin of the runtime: one in vain makes the next waits of the pool sleep at once.
    private func spinForAnswer() -> Bool {
        guard let spin, spin.shouldSpin() else { return state.withLock { $0.first != nil } }
        let found = spinUntil(window: SpinPolicy.window) { state.withLock { $0.first != nil || $0.abandoned } }
        spin.record(found: found)
        return state.withLock { $0.first != nil }
    }

    /// Whether an event arrived (a single input's call: its answer is there).
    var hasAnswer: Bool { state.withLock { $0.first != nil } }

    /// Whether the caller stopped listening.
    var isAbandoned: Bool { state.withLock { $0.abandoned } }

    /// Every event delivered since the last take; waits for at least one.
    func take() async -> [Event] {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [Event]? in
                if !state.events.isEmpty || state.abandoned {
                    defer { state.events.removeAll(keepingCapacity: true) }
                    return state.events
                }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The caller stops listening: a waiting take returns nothing, later events are dropped.
    func abandon() {
        let (waiter, firstWaiters) = state.withLock { state -> (CheckedContinuation<[Event], Never>?, [CheckedContinuation<Event?, Never>]) in
            state.abandoned = true
            state.events = []
            defer {
                state.waiter = nil
                state.firstWaiters = []
            }
            return (state.waiter, state.firstWaiters)
        }
        waiter?.resume(returning: [])
        for firstWaiter in firstWaiters { firstWaiter.resume(returning: nil) }
    }
}
