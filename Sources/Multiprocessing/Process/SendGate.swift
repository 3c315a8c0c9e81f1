import Synchronization

/// A child's permission to send new requests and messages: closed while the supervisor asked
/// it to pause (a `pause` frame: what it sent waits for a slow or paused destination), open
/// again at `resume` or when the channel ends. Replies and errors never pass through it.
///
/// Waiting is asynchronous: the run loop's thread goes on reading the channel (the `resume`
/// among it) while a task waits here.
final class SendGate: Sendable {
    private struct State {
        var paused = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Whether new requests and messages must wait.
    var isPaused: Bool { state.withLock { $0.paused } }

    /// Closes the gate (`pause`) or opens it (`resume`, the end of the channel), resuming
    /// whoever waited.
    func set(paused: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.paused = paused
            guard !paused else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the gate is open.
    func waitUntilOpen() async {
        guard isPaused else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state -> Bool in
                if state.paused { state.waiters.append(continuation) }
                return !state.paused
            }
            if open { continuation.resume() }
        }
    }
}
