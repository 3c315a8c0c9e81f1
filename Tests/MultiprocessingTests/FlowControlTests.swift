import Foundation
import Synchronization
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Flow control: backpressure holds new requests and messages only, so handlers that wait for
/// answers never deadlock, and what the supervisor holds stays bounded.
@Suite(.serialized) struct FlowControlTests {
    init() { TestWorker.use() }

    /// An upper bound against a hang, not a speed claim.
    static let hangGuard = Duration.seconds(120)

    @Test func aHandlerMakingNestedRequestsAnswersFourTimesItsMailboxInFlight() async throws {
        let echo = try await ChildProcess.start(Echo.self)
        let relay = try await ChildProcess.start(Relay.self)
        let count = 4 * ChildRunLoop.mailboxCapacity + 200   // all in flight at once
        let answers = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for index in 0..<count {
                group.addTask { (index, try await relay.request([echo.id, UInt64(index)], as: Int.self, timeout: Self.hangGuard)) }
            }
            return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
        }
        #expect(answers.count == count)
        #expect(answers.allSatisfy { $0.key == $0.value }, "each answer is its own request's")
        for worker in [relay, echo] { worker.closeMailbox(); try await worker.join() }
    }

    @Test func twoWorkersFloodingEachOtherWithCallbacksAreAllAnswered() async throws {
        let a = try await ChildProcess.start(Volley.self)
        let b = try await ChildProcess.start(Volley.self)
        // 1,024 requests of 8 KiB each way (8 MiB, far above a pipe and NIO's watermarks), each
        // handler calling the other worker back.
        func flood(_ from: ChildProcess, _ to: ChildProcess) async throws -> Int {
            try await from.request([.string("flood"), .uint(to.id), .uint(1_024), .uint(8_192)] as [MessagePackValue],
                                   as: Int.self, timeout: Self.hangGuard)
        }
        async let ab = flood(a, b)
        async let ba = flood(b, a)
        #expect(try await ab == 1_024)
        #expect(try await ba == 1_024)
        for worker in [a, b] { worker.closeMailbox(); try await worker.join() }
    }

    @Test func aSlowConsumerHoldsTheSupervisorToItsBudget() async throws {
        let counter = try await ChildProcess.start(SlowCounter.self)
        try Runtime.current.supervisor().heldBytesHighWater.store(0, ordering: .relaxed)
        // 48 MiB in 64 KiB messages to a worker that sleeps a second first: six times the
        // supervisor's held budget for one child.
        let sent = try await ChildProcess.run(TestEntries.flood, .init(target: counter.id, count: 768, size: 65_536))
        #expect(try await SlowCounter.count(of: counter, reaching: sent, polls: 1_000) == sent, "nothing lost")
        let held = try Runtime.current.supervisor().heldBytesHighWater.load(ordering: .relaxed)
        // The budget, plus what the sender had in flight when it was paused (a pipe, and what it
        // writes between two looks at its channel).
        #expect(held <= FlowControl.heldBudget + (4 << 20), "held \(held) bytes")
        counter.closeMailbox()
        try await counter.join()
    }

    @Test func aLargeMessageArrivesWhileOtherWorkersStayInteractive() async throws {
        let echo = try await ChildProcess.start(Echo.self)
        #expect(try await echo.request(1, as: Int.self) == 1)
        let size = 60_000_000
        let done = TransferDone()
        let transfer = Task {
            defer { done.set() }
            return try await ChildProcess.run(FlowEntries.blob, size)
        }
        var slowest = Duration.zero
        var trips = 0
        let clock = ContinuousClock()
        while !done.isSet {
            let start = clock.now
            _ = try await echo.request(trips, as: Int.self, timeout: Self.hangGuard)
            slowest = max(slowest, clock.now - start)
            trips += 1
        }
        let data = try await transfer.value
        #expect(data.count == size)
        #expect(data.allSatisfy { $0 == 7 })
        // A hang-guard: the quadratic reassembly stalled every other worker ~750 ms per read.
        #expect(slowest < .milliseconds(300), "the slowest round trip during the transfer took \(slowest)")
        echo.closeMailbox()
        try await echo.join()
    }

}

/// A flag set once, read from any task.
final class TransferDone: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
