import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Monitors (a watcher is told when a worker dies, with its exit status) and one-way
/// addressed messages.
@Suite(.serialized) struct MonitorTests {
    init() { TestWorker.use() }

    func record(of recorder: ChildProcess) async throws -> [MessagePackValue] {
        guard case .array(let items) = try await recorder.request(MessagePackValue.string("show"), as: MessagePackValue.self) else { return [] }
        return items
    }

    @Test func aWatcherLearnsHowTheWatchedWorkerEnded() async throws {
        let watcher = try await ChildProcess.start(Recorder.self)
        let watched = try await ChildProcess.start(TestEntries.sleep, 30_000)
        #expect(try await watcher.request(["watch": .uint(watched.id)] as MessagePackValue, as: Bool.self))
        watched.kill()
        try await watched.join()
        var items: [MessagePackValue] = []
        for _ in 0..<100 {
            items = try await record(of: watcher)
            if !items.isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(items == [["down": .uint(watched.id), "status": ["signaled": .uint(9)]]])
        watcher.closeMailbox()
        try await watcher.join()
    }

    @Test func monitoringAWorkerThatIsGoneReportsAtOnce() async throws {
        let watcher = try await ChildProcess.start(Recorder.self)
        #expect(try await watcher.request(["watch": 987_654] as MessagePackValue, as: Bool.self))
        var items: [MessagePackValue] = []
        for _ in 0..<100 {
            items = try await record(of: watcher)
            if !items.isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(items == [["down": 987_654, "status": ["unknown": nil]]])
        watcher.closeMailbox()
        try await watcher.join()
    }

    @Test func messagesReachTheMailboxFromTheParentAndFromOtherWorkers() async throws {
        let inbox = try await ChildProcess.start(Recorder.self)
        let sender = try await ChildProcess.start(Recorder.self)
        try inbox.send("from the parent")
        #expect(try await sender.request(["send": .uint(inbox.id), "value": [1, 2]] as MessagePackValue, as: Bool.self))
        var items: [MessagePackValue] = []
        for _ in 0..<100 {
            items = try await record(of: inbox)
            if items.count == 2 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(items == [["from": 0, "value": "from the parent"], ["from": .uint(sender.id), "value": [1, 2]]])
        inbox.closeMailbox()
        sender.closeMailbox()
        try await inbox.join()
        try await sender.join()
    }

    @Test func terminationStatusTravelsAsADict() throws {
        #expect(try MessagePackValue(encoding: TerminationStatus.exited(3)) == ["exited": 3])
        #expect(try MessagePackValue(encoding: TerminationStatus.signaled(.kill)) == ["signaled": 9])
        let unknown: MessagePackValue = ["unknown": nil]
        #expect(try unknown.decode(TerminationStatus.self) == .unknown)
    }

    @Test func aFastSenderWaitsForASlowReaderInsteadOfFillingTheSupervisor() async throws {
        let counter = try await ChildProcess.start(SlowCounter.self)
        let pausesBefore = try Runtime.current.supervisor().backpressurePauses.load(ordering: .relaxed)
        // 16 MiB in 16 KiB messages, 16 times the supervisor's high watermark for one reader.
        let sent = try await ChildProcess.run(TestEntries.flood, .init(target: counter.id, count: 1_024, size: 16_384))
        #expect(try await SlowCounter.count(of: counter, reaching: sent, polls: 500) == sent, "nothing lost")
        #expect(try Runtime.current.supervisor().backpressurePauses.load(ordering: .relaxed) > pausesBefore, "the sender was paused")
        counter.closeMailbox()
        try await counter.join()
    }
}
