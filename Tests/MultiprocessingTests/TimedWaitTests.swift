import Synchronization
import Testing
@testable import Multiprocessing

/// The runtime's one "continuation with a deadline": value, timeout and cancellation race,
/// exactly one wins, the others learn they lost, and the loser's cleanup runs.
@Suite struct TimedWaitTests {
    /// A count shared with the closures of one round.
    final class Counter: Sendable {
        let atomic = Atomic<Int>(0)
        func add() { atomic.add(1, ordering: .relaxed) }
        var value: Int { atomic.load(ordering: .relaxed) }
    }

    @Test func aValueWins() async {
        let outcome: TimedOutcome<Int> = await TimedWait.wait(until: .now + .seconds(60)) { once in
            #expect(once.resume(returning: 7))
            #expect(!once.timeOut())
            #expect(!once.cancel())
        }
        guard case .value(7) = outcome else { Issue.record("got \(outcome)"); return }
    }

    @Test func theDeadlineWinsAndTheLateValueIsRefused() async {
        let holder = Mutex<ResumeOnce<Int>?>(nil)
        let outcome: TimedOutcome<Int> = await TimedWait.wait(until: .now + .milliseconds(10)) { once in
            holder.withLock { $0 = once }
        }
        guard case .timedOut = outcome else { Issue.record("got \(outcome)"); return }
        #expect(holder.withLock { $0 }?.resume(returning: 1) == false)
    }

    @Test func cancellationWinsAndRunsTheCleanupOnce() async {
        let ends = Counter()
        let task = Task { () -> TimedOutcome<Int> in
            await TimedWait.wait(onEnd: { _ in ends.add() }) { _ in }
        }
        task.cancel()
        guard case .cancelled = await task.value else { Issue.record("not cancelled"); return }
        #expect(ends.value == 1)
    }

    /// Value, deadline and cancellation from three threads at once, 10,000 times: each wait
    /// ends exactly once, with the one whose `ResumeOnce` call returned true.
    @Test func racesResolveExactlyOnce() async {
        let tally = Mutex<(value: Int, timedOut: Int, cancelled: Int)>((0, 0, 0))
        for round in 0..<10_000 {
            let ends = Counter()
            let winners = Counter()
            let task = Task { () -> TimedOutcome<Int> in
                await TimedWait.wait(until: .now + .microseconds(round % 50), onEnd: { _ in ends.add() }) { once in
                    Task.detached { if once.resume(returning: round) { winners.add() } }
                }
            }
            if round % 3 == 0 { task.cancel() }
            let outcome = await task.value
            #expect(ends.value == 1)
            #expect(winners.value <= 1)
            tally.withLock {
                switch outcome {
                case .value(let value): #expect(value == round); $0.value += 1
                case .timedOut: $0.timedOut += 1
                case .cancelled: $0.cancelled += 1
                }
            }
        }
        let total = tally.withLock { $0.value + $0.timedOut + $0.cancelled }
        #expect(total == 10_000)
    }
}
