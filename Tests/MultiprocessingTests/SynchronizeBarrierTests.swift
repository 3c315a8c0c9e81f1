import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// `Barrier`: parties in real processes meet, run the action once a round, and break (instead
/// of hanging) on a timeout, an abort, a reset, a throwing action, or a party killed while it
/// waits.
@Suite(.serialized) struct SynchronizeBarrierTests {
    typealias Counter = SyncTest.Counter
    typealias Report = SynchronizeEntries.PartyReport
    init() { TestWorker.use() }

    @Test func aBarrierRefusesBadPartiesAndTimeouts() async throws {
        for parties in [0, -1, 65_537] {
            #expect(SyncTest.error { try Barrier(parties: parties) }?.code == .invalidArgument)
        }
        #expect(try Barrier(parties: 2, timeout: .seconds(Int64.max)).defaultTimeout == nil)   // too long to count: none
        // An action this process never registered is refused at once, naming it and the known ones.
        let stray = BarrierAction("sync.neverRegistered") {}
        let refused = SyncTest.error { try Barrier(parties: 2, action: stray) }
        #expect(refused?.code == .unregisteredAction)
        #expect(refused?.message.contains("\"sync.neverRegistered\"") == true)
        #expect(refused?.message.contains("\"sync.countPass\"") == true)
    }

    /// Python: a negative timeout is zero, for the barrier's default as for a wait: the wait
    /// looks once, and a party alone breaks the barrier.
    @Test(arguments: ["default", "blocking", "async"])
    func aNegativeTimeoutIsZero(how: String) async throws {
        let barrier = try Barrier(parties: 2, timeout: how == "default" ? .seconds(-1) : nil)
        switch how {
        case "default": #expect(SyncTest.error { try Self.wait(barrier) }?.code == .brokenBarrier)
        case "blocking": #expect(SyncTest.error { try Self.wait(barrier, timeout: .seconds(-1)) }?.code == .brokenBarrier)
        default: #expect(await SyncTest.error { try await barrier.wait(timeout: .seconds(-1)) }?.code == .brokenBarrier)
        }
        #expect(barrier.isBroken)
    }

    static func wait(_ barrier: Barrier, timeout: Duration? = nil) throws -> Int { try barrier.wait(timeout: timeout) }

    @Test func threeProcessesMeetForThreeRoundsAndTheActionRunsOnceARound() async throws {
        let actions = try Counter(0, lock: .none)
        SynchronizeEntries.passCounter.withLock { $0 = actions }
        let barrier = try Barrier(parties: 3, action: SynchronizeEntries.countPass, timeout: .seconds(60))
        #expect(barrier.parties == 3)
        #expect(barrier.actionName == "sync.countPass")
        #expect(barrier.defaultTimeout == .seconds(60))
        let children = [
            try await ChildProcess.start(SynchronizeEntries.party, .init(barrier: barrier, actions: actions, rounds: 3)),
            try await ChildProcess.start(SynchronizeEntries.party, .init(barrier: barrier, actions: actions, rounds: 3, useAsync: true)),
        ]
        let mine = barrier
        var indices: [[Int]] = []
        for round in 0..<3 {
            let index = try await mine.wait()
            #expect(try SyncTest.read(actions) >= round + 1)   // the round's action ran before the release
            indices.append([index])
        }
        for child in children {
            let report = try await child.result(of: SynchronizeEntries.party)
            #expect(report.error == nil)
            #expect(report.actionRanBeforeRelease)
            for round in 0..<3 { indices[round].append(report.indices[round]) }
            _ = try await child.join()
        }
        for round in 0..<3 { #expect(indices[round].sorted() == [0, 1, 2]) }
        #expect(try SyncTest.read(actions) == 3)
        #expect(!barrier.isBroken)
    }

    @Test func aTimeoutBreaksTheBarrierUntilItIsReset() throws {
        let barrier = try Barrier(parties: 2)
        #expect(SyncTest.error { try barrier.wait(timeout: .milliseconds(20)) }?.code == .brokenBarrier)
        #expect(barrier.isBroken)
        #expect(SyncTest.error { try barrier.wait(timeout: .seconds(60)) }?.code == .brokenBarrier)
        try barrier.reset()
        #expect(!barrier.isBroken)
        #expect(barrier.waitingCount == 0)
        // The default timeout applies to a wait that gives none.
        let impatient = try Barrier(parties: 2, timeout: .milliseconds(20))
        #expect(SyncTest.error { try impatient.wait() }?.code == .brokenBarrier)
    }

    @Test func anActionThatThrowsBreaksTheBarrierAndReachesItsParty() throws {
        let barrier = try Barrier(parties: 1, action: SynchronizeEntries.failingAction)
        #expect(throws: SynchronizeEntries.ActionFailed.self) { try barrier.wait() }
        #expect(barrier.isBroken)
        try barrier.reset()
        let fine = try Barrier(parties: 1, action: SynchronizeEntries.idleAction)
        #expect(try fine.wait() == 0)
        #expect(try fine.wait() == 0)
    }

    /// A last party whose process has no action of the stored name breaks the barrier with a
    /// typed error naming the action and the registered ones.
    @Test func anUnregisteredActionNameBreaksTheBarrierInTheLastParty() throws {
        let placement = try SharedPlacement.allocate(byteCount: BarrierCore.byteCount(parties: 1), alignment: BarrierCore.alignment,
                                                     tag: SharedPlacement.Tag.barrier, "Barrier", in: Runtime.defaultArena())
        let barrier = try Barrier(initializing: placement, parties: 1, actionName: "sync.elsewhere", timeout: nil)
        let error = SyncTest.error { try Self.wait(barrier) }
        #expect(error?.code == .unregisteredAction)
        #expect(error?.message.contains("\"sync.elsewhere\"") == true)
        #expect(error?.message.contains("\"sync.idleAction\"") == true)
        #expect(barrier.isBroken)
    }

    /// The action runs exactly once per pass in whichever of three processes arrives last: 50
    /// passes, the counter it adds to ends at exactly 50.
    @Test func theNamedActionRunsExactlyOncePerPassWhicheverProcessArrivesLast() async throws {
        let passes = 50
        let actions = try Counter(0, lock: .none)
        SynchronizeEntries.passCounter.withLock { $0 = actions }
        let barrier = try Barrier(parties: 3, action: SynchronizeEntries.countPass, timeout: .seconds(60))
        let children = [
            try await ChildProcess.start(SynchronizeEntries.party, .init(barrier: barrier, actions: actions, rounds: passes)),
            try await ChildProcess.start(SynchronizeEntries.party, .init(barrier: barrier, actions: actions, rounds: passes, useAsync: true)),
        ]
        var lastHere = 0
        for _ in 0..<passes where try await barrier.wait() == 2 { lastHere += 1 }
        var lastInChildren = 0
        for child in children {
            let report = try await child.result(of: SynchronizeEntries.party)
            #expect(report.error == nil)
            #expect(report.actionRanBeforeRelease)
            lastInChildren += report.indices.filter { $0 == 2 }.count
            _ = try await child.join()
        }
        #expect(lastHere + lastInChildren == passes)   // one last party per pass
        #expect(try SyncTest.read(actions) == passes)
    }

    @Test(arguments: ["abort", "reset"])
    func abortAndResetReleaseAWaitingProcessWithAnError(how: String) async throws {
        let barrier = try Barrier(parties: 2)
        let child = try await ChildProcess.start(SynchronizeEntries.party, .init(barrier: barrier, actions: try Counter(0, lock: .none), rounds: 1))
        try await SyncTest.eventually("the child waits at the barrier") { barrier.waitingCount == 1 }
        if how == "abort" { try barrier.abort() } else { try barrier.reset() }
        let report = try await child.result(of: SynchronizeEntries.party)
        #expect(report.error == "brokenBarrier")
        #expect(report.indices == [])
        #expect(barrier.isBroken == (how == "abort"))
        _ = try await child.join()
    }

    @Test func aPartyKilledWhileWaitingBreaksTheBarrierForTheOthers() async throws {
        let barrier = try Barrier(parties: 3)
        let actions = try Counter(0, lock: .none)
        let victim = try await ChildProcess.start(SynchronizeEntries.party, .init(barrier: barrier, actions: actions, rounds: 1))
        try await SyncTest.eventually("the victim waits at the barrier") { barrier.waitingCount == 1 }
        let survivor = try await ChildProcess.start(SynchronizeEntries.party, .init(barrier: barrier, actions: actions, rounds: 1, useAsync: true))
        try await SyncTest.eventually("both wait at the barrier") { barrier.waitingCount == 2 }
        victim.kill()
        #expect(try await victim.join() == .signaled(.kill))
        // No third party ever comes and nobody gave a timeout: the survivor is freed by the death.
        let report = try await survivor.result(of: SynchronizeEntries.party)
        #expect(report.error == "brokenBarrier")
        #expect(barrier.isBroken)
        #expect(try SyncTest.read(actions) == 0)
        _ = try await survivor.join()
    }
}
