import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Spin, then block. A round trip between two processes on different CPUs costs two wake-ups
// of a sleeping thread, about 25 us each in this VM (docs/LINUX-FINDINGS.md); a reader that
// looks for its answer for a few tens of microseconds before it sleeps is not asleep when
// the answer comes, and saves one of them. Looking costs a CPU, so the looking is bounded
// and adaptive: a spin that found nothing turns spinning off for the next waits.

extension FileDescriptor {
    /// Looks at `descriptors` without sleeping (`poll` with a zero timeout), giving the CPU
    /// away between looks (`sched_yield`, so a peer on the same CPU runs), for at most
    /// `window`. Returns the events per descriptor once one has one of `events`, nil when
    /// none did within the window (or `poll` failed: the caller's blocking wait reports it).
    static func spinPoll(_ descriptors: [FileDescriptor], for events: PollEvents,
                         window: Duration) -> [PollEvents]? {
        var entries = descriptors.map { pollfd(fd: $0.rawValue, events: events.rawValue, revents: 0) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: window)
        repeat {
            let count = entries.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), 0) }
            if count > 0 { return entries.map { PollEvents(rawValue: $0.revents) } }
            if count < 0, Errno.current != .interrupted { return nil }
            sched_yield()
        } while clock.now < deadline
        return nil
    }
}

/// Looks at `done` for at most `window`, giving the CPU away between looks (`sched_yield`);
/// returns whether it held. For a waiter whose answer another thread delivers in memory (a
/// pool's result): the waiter still looking when it comes saves its wake-up.
func spinUntil(window: Duration, _ done: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: window)
    repeat {
        if done() { return true }
        sched_yield()
    } while clock.now < deadline
    return done()
}

/// When a blocking wait should spin first (``FileDescriptor/spinPoll(_:for:window:)``): after a
/// spin that found its answer, again; after one that found nothing, not for the next
/// `backoff` waits, so a quiet reader soon sleeps at once and costs no CPU.
struct SpinPolicy: Sendable {
    /// How long a wait looks before it sleeps: a little more than a cross-CPU round trip's
    /// work on the other side, much less than a scheduler tick.
    static let window: Duration = .microseconds(50)
    /// Waits that sleep at once after a spin in vain.
    static let backoff = 32

    /// Spinning helps only when the peer can run meanwhile on another CPU: a process allowed
    /// on one CPU (`taskset -c 0`) never spins.
    static let enabled = ProcessControl.cpuCount > 1

    private var waitsToSkip = 0

    /// Whether this wait should spin; counts a skipped one.
    mutating func shouldSpin() -> Bool {
        guard Self.enabled else { return false }
        if waitsToSkip > 0 {
            waitsToSkip -= 1
            return false
        }
        return true
    }

    /// What the spin found.
    mutating func record(found: Bool) {
        if !found { waitsToSkip = Self.backoff }
    }
}

/// A ``SpinPolicy`` shared by the waiters of one thing (a pool's callers, a manager client's).
final class SpinGate: Sendable {
    private let policy = Mutex(SpinPolicy())
    func shouldSpin() -> Bool { policy.withLock { $0.shouldSpin() } }
    func record(found: Bool) { policy.withLock { $0.record(found: found) } }
}
