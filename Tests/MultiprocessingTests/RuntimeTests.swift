import Foundation
import MPTestEntries
import Synchronization
import Testing
@testable import Multiprocessing

/// The runtime is made of values, not singletons: a supervisor and its queue service can be
/// built alone, two runtimes live side by side in one process, and the supervisor hands frames
/// to the services registered for their kinds.
@Suite(.serialized) struct RuntimeTests {
    typealias Tagged = QueueEntries.Tagged

    init() { TestWorker.use() }

    @Test func aSupervisorAndItsQueueServiceServeAQueueWithoutTheDefaultRuntime() async throws {
        let service = QueueService()
        let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [service]))
        let clients = QueueClients(parentOf: service)
        let queue = try Queue<Int>(maxsize: 10, clients: clients)
        var got: [Int] = []
        for value in 0..<100 {
            try await queue.put(value)
            got.append(try await queue.get())
        }
        #expect(got == Array(0..<100))
        #expect(try await queue.count == 0)
        await supervisor.shutdown()
    }

    @Test func aSupervisorShutDownLeavesNoDescriptorBehind() async throws {
        func serveAndShutDown() async throws {
            let service = QueueService()
            let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [service]))
            let queue = try Queue<Int>(clients: QueueClients(parentOf: service))
            try await queue.put(1)
            #expect(try await queue.get() == 1)
            await supervisor.shutdown()
        }
        // One warm-up: what the first use in a process opens for good is not the supervisor's.
        try await serveAndShutDown()
        let before = Set(try FileDescriptor.openDescriptors())
        try await serveAndShutDown()
        // The reaper's thread ends after the shutdown, and its wake pipe closes when the last
        // reference goes: polled, never timed.
        var added = Set(try FileDescriptor.openDescriptors()).subtracting(before)
        for _ in 0..<1_000 where !added.isEmpty {
            try await Task.sleep(for: .milliseconds(10))
            added = Set(try FileDescriptor.openDescriptors()).subtracting(before)
        }
        #expect(added.isEmpty, "descriptors left open: \(added.sorted().map { "\($0) \((try? FileDescriptor(rawValue: $0).target()) ?? "?")" })")
    }

    @Test func twoRuntimesEachStartAChildAndServeTheirOwnQueue() async throws {
        let first = Runtime(), second = Runtime()
        for runtime in [first, second] { try runtime.register(functions: QueueEntries.functions, workers: []) }
        let firstQueue = try Queue<Tagged>(runtime: first)
        let secondQueue = try Queue<Tagged>(runtime: second)
        // Each runtime numbers its queues and children from 1: the same ids, served apart.
        #expect(firstQueue.core.handle.id == secondQueue.core.handle.id)
        let firstChild = try await first.start(QueueEntries.produce, .init(queue: firstQueue, producer: 1, count: 50, close: true))
        let secondChild = try await second.start(QueueEntries.produce, .init(queue: secondQueue, producer: 2, count: 70, close: true))
        #expect(firstChild.id == secondChild.id)
        #expect(try first.supervisor() !== second.supervisor())
        var fromFirst: [Tagged] = [], fromSecond: [Tagged] = []
        for try await item in firstQueue { fromFirst.append(item) }
        for try await item in secondQueue { fromSecond.append(item) }
        #expect(fromFirst == (0..<50).map { Tagged(producer: 1, sequence: $0) })
        #expect(fromSecond == (0..<70).map { Tagged(producer: 2, sequence: $0) })
        #expect(try await firstChild.result(of: QueueEntries.produce) == 50)
        #expect(try await secondChild.result(of: QueueEntries.produce) == 70)
        #expect(try await firstChild.join() == .exited(0))
        #expect(try await secondChild.join() == .exited(0))
        await first.shutdown()
        await second.shutdown()
    }

    @Test func aDecoderNamesTheRuntimeWhoseClientsAHandleUses() async throws {
        let runtime = Runtime()
        let queue = try Queue<Int>(runtime: runtime)
        let bytes = try MessagePackEncoder().encode(queue)
        var decoder = MessagePackDecoder()
        decoder.userInfo[Runtime.userInfoKey] = runtime
        let decoded = try decoder.decode(Queue<Int>.self, from: bytes)
        #expect(decoded.core.client === queue.core.client, "the same client: one per queue per runtime")
        let byDefault = try MessagePackDecoder().decode(Queue<Int>.self, from: bytes)
        #expect(byDefault.core.client !== queue.core.client, "without userInfo: the default runtime's client")
        await runtime.shutdown()
    }

    @Test func serviceKindsMustLieAboveTheCoreAndNotOverlap() throws {
        final class Probe: SupervisorService, @unchecked Sendable {
            let kinds: ClosedRange<UInt8>
            init(_ kinds: ClosedRange<UInt8>) { self.kinds = kinds }
            func start(host: any ServiceHost) {}
            func receive(_ frame: ServiceFrame, from peer: any ServicePeer) {}
            func peerGone(_ peer: UInt64) {}
        }
        #expect(throws: ProcessError.self) { try ServiceTable([Probe(10...40)]) }
        #expect(throws: ProcessError.self) { try ServiceTable([Probe(32...47), Probe(40...50)]) }
        let table = try ServiceTable([Probe(48...63)])
        #expect(table.service(first: 0x95, kind: 50) != nil)
        #expect(table.service(first: 0x95, kind: 33) == nil, "no service owns the queue kinds here")
        #expect(table.service(first: 0x95, kind: 4) == nil, "a core kind is never a service's")
        #expect(table.service(first: 0x81, kind: 50) == nil, "a body that is not an array is not a frame for a service")
    }

    /// Answers a frame of kind 64 with `pong` and remembers what it saw (tests read it).
    final class Pong: SupervisorService, @unchecked Sendable {   // confined to the loop but `seen`
        let kinds: ClosedRange<UInt8> = 64...95
        let capabilities = ["pong"]
        let seen = Mutex<(kinds: [UInt8], gone: [UInt64], spoke: [Bool])>(([], [], []))
        private var host: (any ServiceHost)?

        func start(host: any ServiceHost) { self.host = host }
        func receive(_ frame: ServiceFrame, from peer: any ServicePeer) {
            seen.withLock { $0.kinds.append(frame.kind); $0.spoke.append(peer.speaks("pong")) }
            guard let host, let (envelope, payload) = try? frame.split(),
                  (try? frame.decode(MessagePackValue.self, payload: payload)) == "ping" else { return }
            host.send(envelope.answer(.reply), "pong", to: peer.id)
        }
        func peerGone(_ peer: UInt64) { seen.withLock { $0.gone.append(peer) } }
        func stop() { host = nil }
    }

    @Test(.enabled(if: PythonWorker.unavailableReason == nil, Comment(rawValue: PythonWorker.unavailableReason ?? "")))
    func aFrameOfAServicesKindReachesThatServiceAndItsAnswerReachesThePeer() async throws {
        let pong = Pong()
        let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [pong]))
        var options = ProcessOptions(name: "python-service")
        options.executable = "/usr/bin/env"
        options.arguments = ["python3", PythonPeerRefusalTests.script]
        let peer = try await supervisor.launch(entry: nil, options: options, trampoline: false)
        let answer = try await peer.request(["misbehave": "service-kind"], as: MessagePackValue.self, timeout: .seconds(30))
        #expect(answer == [.uint(Envelope.Kind.reply.rawValue), 78, "pong"], "the service answered the peer's frame")
        #expect(pong.seen.withLock { $0.kinds } == [64])
        // The Python peer announces no capability of the service's: the welcome agreed none.
        #expect(pong.seen.withLock { $0.spoke } == [false])
        peer.closeMailbox()
        #expect(try await peer.join(timeout: .seconds(30)) == .exited(0))
        for _ in 0..<3_000 where pong.seen.withLock({ $0.gone }).isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(pong.seen.withLock { $0.gone } == [peer.id], "the service was told the peer is gone")
        await supervisor.shutdown()
    }
}
