import Foundation
import MPTestEntries
import Synchronization
import Testing
@testable import Multiprocessing

/// Exits that arrive while a supervisor restarts (issue #10 §3): none is lost, none starts a
/// second restart beside the first, and nothing the tree started outlives its shutdown. A race,
/// so each strategy runs several rounds of kills fired from the event stream itself.
@Suite(.serialized) struct SupervisionRaceTests {
    init() { TestWorker.use() }

    /// What the event consumer saw and how many kills it may still fire.
    final class Storm: Sendable {
        let state = Mutex<(pids: Set<Int32>, kills: Int, gaveUp: Bool)>(([], 0, false))
    }

    /// a, b, d answer at once; c ignores SIGTERM, so stopping it takes its whole grace period
    /// (the window in which the first race lived).
    static func tree(_ strategy: RestartStrategy) -> Supervisor {
        Supervisor(strategy: strategy, intensity: 1_000, period: .seconds(5), children: [
            .worker("a", Tally.self), .worker("b", Tally.self),
            .worker("c", StubbornTally.self, shutdown: .timeout(.milliseconds(250))),
            .worker("d", Tally.self),
        ])
    }

    static let ids = ["a", "b", "c", "d"]

    /// Reads every event; after each one, while kills remain, kills a child of the tree: a
    /// random one, or with `oldestOnStop` the oldest ("a") when the event is a stop (so that,
    /// with rest-for-one, it dies outside the group while the group is being stopped).
    static func consume(_ supervisor: Supervisor, _ storm: Storm, oldestOnStop: Bool) -> Task<Void, Never> {
        Task {
            for await event in supervisor.events {
                switch event {
                case .started(_, let pid): storm.state.withLock { _ = $0.pids.insert(pid) }
                case .gaveUp: storm.state.withLock { $0.gaveUp = true }
                default: break
                }
                let fire = storm.state.withLock { state -> Bool in
                    guard state.kills > 0 else { return false }
                    state.kills -= 1
                    return true
                }
                guard fire else { continue }
                if oldestOnStop, case .exited = event {
                    await supervisor.child("a")?.kill()
                } else {
                    await supervisor.child(ids.randomElement()!)?.kill()
                }
            }
        }
    }

    /// True when every child answers a request (within `bound`), false if one never did.
    static func everyChildAnswers(_ supervisor: Supervisor, within bound: Duration) async -> Bool {
        let deadline = ContinuousClock.now + bound
        for id in ids {
            while true {
                if let child = await supervisor.child(id), (try? await child.request(0, as: Int.self, timeout: .seconds(2))) != nil { break }
                if ContinuousClock.now > deadline { return false }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return true
    }

    /// The pids among `pids` that are still a live (or unreaped) child of this process.
    static func leftOver(_ pids: Set<Int32>) -> [Int32] {
        pids.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // After "pid (comm)": state, ppid. A recycled pid belongs to someone else's parent.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == getpid()
        }.sorted()
    }

    func rounds(_ strategy: RestartStrategy) async throws {
        for round in 0..<8 {
            let supervisor = Self.tree(strategy)
            let storm = Storm()
            let consumer = Self.consume(supervisor, storm, oldestOnStop: round.isMultiple(of: 2))
            try await supervisor.start()
            #expect(await Self.everyChildAnswers(supervisor, within: .seconds(15)))
            storm.state.withLock { $0.kills = 4 }
            await supervisor.child(Self.ids.randomElement()!)!.kill()
            // The storm ends after its last kill; each kill brings events that fire the next.
            let deadline = ContinuousClock.now + .seconds(30)
            while storm.state.withLock({ $0.kills }) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let answered = await Self.everyChildAnswers(supervisor, within: .seconds(10))
            let gaveUp = storm.state.withLock { $0.gaveUp }
            #expect(answered || gaveUp, "round \(round) of \(strategy): a child stayed dead and the tree did not give up")
            await supervisor.shutdown()
            await consumer.value
            let pids = storm.state.withLock { $0.pids }
            #expect(Self.leftOver(pids).isEmpty, "round \(round) of \(strategy): \(Self.leftOver(pids)) outlived shutdown()")
            // Kill what a failed round left, so that nothing outlives the test either way.
            for pid in Self.leftOver(pids) { Glibc.kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
        }
    }

    @Test func oneForOneLosesNoExitDuringRestarts() async throws { try await rounds(.oneForOne) }
    @Test func oneForAllLosesNoExitDuringRestarts() async throws { try await rounds(.oneForAll) }
    @Test func restForOneLosesNoExitDuringRestarts() async throws { try await rounds(.restForOne) }
}
