import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Erlang/OTP supervision: restart policies, strategies, intensity, ordered shutdown.
@Suite(.serialized) struct SupervisionTests {
    init() { TestWorker.use() }

    /// Collects events until `predicate` holds for the list so far.
    func events(of supervisor: Supervisor, until predicate: @escaping ([SupervisorEvent]) -> Bool) async -> [SupervisorEvent] {
        var seen: [SupervisorEvent] = []
        for await event in supervisor.events {
            seen.append(event)
            if predicate(seen) { break }
        }
        return seen
    }

    func pid(_ supervisor: Supervisor, _ id: String) async -> Int32? { await supervisor.child(id)?.pid }

    @Test func oneForOneRestartsOnlyTheChildThatDied() async throws {
        let supervisor = Supervisor(strategy: .oneForOne, intensity: 5, children: [.worker("a", Tally.self), .worker("b", Tally.self)])
        try await supervisor.start()
        let (a, b) = (await pid(supervisor, "a")!, await pid(supervisor, "b")!)
        await supervisor.child("a")!.kill()
        _ = await events(of: supervisor) { $0.filter { if case .started = $0 { true } else { false } }.count == 3 }
        #expect(await pid(supervisor, "a") != a)
        #expect(await pid(supervisor, "b") == b)
        #expect(try await supervisor.child("a")!.request(2, as: Int.self) == 2, "the new incarnation answers")
        await supervisor.shutdown()
    }

    @Test func oneForAllRestartsEveryone() async throws {
        let supervisor = Supervisor(strategy: .oneForAll, intensity: 5, children: [.worker("a", Tally.self), .worker("b", Tally.self)])
        try await supervisor.start()
        let (a, b) = (await pid(supervisor, "a")!, await pid(supervisor, "b")!)
        await supervisor.child("b")!.kill()
        let seen = await events(of: supervisor) { $0.filter { if case .started = $0 { true } else { false } }.count == 4 }
        #expect(await pid(supervisor, "a") != a)
        #expect(await pid(supervisor, "b") != b)
        #expect(seen.contains(.restarting(id: "a")) && seen.contains(.restarting(id: "b")))
        await supervisor.shutdown()
    }

    @Test func restForOneRestartsTheChildAndThoseAfterIt() async throws {
        let supervisor = Supervisor(strategy: .restForOne, intensity: 5,
                                    children: [.worker("a", Tally.self), .worker("b", Tally.self), .worker("c", Tally.self)])
        try await supervisor.start()
        let (a, b, c) = (await pid(supervisor, "a")!, await pid(supervisor, "b")!, await pid(supervisor, "c")!)
        await supervisor.child("b")!.kill()
        _ = await events(of: supervisor) { $0.filter { if case .started = $0 { true } else { false } }.count == 5 }
        #expect(await pid(supervisor, "a") == a)
        #expect(await pid(supervisor, "b") != b)
        #expect(await pid(supervisor, "c") != c)
        await supervisor.shutdown()
    }

    @Test func exceedingTheIntensityGivesUpWithAnErrorNamingTheChild() async throws {
        let supervisor = Supervisor(strategy: .oneForOne, intensity: 1, period: .seconds(5),
                                    children: [.worker("steady", Tally.self), .function("crasher", TestEntries.exit, 3, restart: .permanent)])
        try await supervisor.start()
        do {
            try await supervisor.wait()
            Issue.record("the supervisor did not give up")
        } catch let error as SupervisorError {
            #expect(error.code == .intensityExceeded)
            #expect(error.childID == "crasher")
        }
        #expect(await supervisor.child("steady") == nil, "every child was stopped")
    }

    @Test func transientChildrenAreRestartedOnlyAfterAFailure() async throws {
        let supervisor = Supervisor(intensity: 3, children: [
            .function("done", TestEntries.square, 3, restart: .transient),
            .function("failing", TestEntries.exit, 4, restart: .transient),
        ])
        try await supervisor.start()
        let seen = await events(of: supervisor) { $0.contains(.restarting(id: "failing")) }
        #expect(!seen.contains(.restarting(id: "done")))
        #expect(seen.contains(.exited(id: "done", status: .exited(0))))
        await supervisor.shutdown()
    }

    @Test func temporaryChildrenAreNeverRestarted() async throws {
        let supervisor = Supervisor(intensity: 3, children: [
            .function("once", TestEntries.exit, 5, restart: .temporary), .worker("keeper", Tally.self),
        ])
        try await supervisor.start()
        let seen = await events(of: supervisor) { $0.contains(.exited(id: "once", status: .exited(5))) }
        #expect(!seen.contains(.restarting(id: "once")))
        try await Task.sleep(for: .milliseconds(100))
        #expect(await supervisor.child("once") == nil)
        await supervisor.shutdown()
    }

    @Test func shutdownStopsChildrenInReverseStartOrderWithoutRestarting() async throws {
        let supervisor = Supervisor(intensity: 10, children: [
            .worker("first", Tally.self), .worker("second", Tally.self), .worker("third", Tally.self),
        ])
        try await supervisor.start()
        await supervisor.shutdown()
        var exits: [String] = []
        var restarted = false
        for await event in supervisor.events {
            if case .exited(let id, _) = event { exits.append(id) }
            if case .restarting = event { restarted = true }
        }
        #expect(exits == ["third", "second", "first"])
        #expect(!restarted)
        try await supervisor.wait()
    }

    @Test func aChildThatIgnoresSIGTERMIsKilledAfterItsGracePeriod() async throws {
        let supervisor = Supervisor(children: [
            .function("stubborn", TestEntries.stubborn, 30_000, shutdown: .timeout(.milliseconds(300))),
            .function("brutal", TestEntries.sleep, 30_000, shutdown: .brutalKill),
        ])
        try await supervisor.start()
        // Wait until the child really ignores SIGTERM (bit 15 of SigIgn in /proc/PID/status).
        let pid = await supervisor.child("stubborn")!.pid
        func ignoresTerm() -> Bool {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigIgn:") }),
                  let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16) else { return false }
            return mask & (1 << (UInt64(SIGTERM) - 1)) != 0
        }
        for _ in 0..<500 where !ignoresTerm() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(ignoresTerm())
        await supervisor.shutdown()
        var statuses: [String: TerminationStatus] = [:]
        for await event in supervisor.events { if case .exited(let id, let status) = event { statuses[id] = status } }
        #expect(statuses["stubborn"] == .signaled(.kill))
        #expect(statuses["brutal"] == .signaled(.kill))
    }

    @Test func duplicateIDsAreRefused() async throws {
        let supervisor = Supervisor(children: [.worker("x", Tally.self), .worker("x", Echo.self)])
        await #expect(throws: SupervisorError.self) { try await supervisor.start() }
    }
}
