import Foundation
import MessagePack
import MPTestEntries
import NIOCore
import Synchronization
import Testing
@testable import Multiprocessing

/// The pool's frames against Protocols/vectors/pool.json (bytes Python's msgpack makes), the
/// supervisor's reading of results frames, good and bad, and a real pool worker process
/// answering tasks through a test service of the pool's kinds.
@Suite(.serialized) struct PoolWireTests {
    init() { TestWorker.use() }

    struct Vector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var kind: String
        var kindCode: UInt64
        var envelope: [UInt64]
        var payload: MessagePackValue
        var body: String
        var frame: String
        var testDescription: String { name }

        enum CodingKeys: String, CodingKey { case name, kind, kindCode, envelope, payload, body, frame }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            kind = try c.decode(String.self, forKey: .kind)
            kindCode = try c.decode(UInt64.self, forKey: .kindCode)
            envelope = try c.decode([UInt64].self, forKey: .envelope)
            payload = try c.decode(EnvelopeVectors.Described.self, forKey: .payload).value
            body = try c.decode(String.self, forKey: .body)
            frame = try c.decode(String.self, forKey: .frame)
        }

        /// The payload's elements (every pool payload but a cancel's is an array).
        var elements: [MessagePackValue] {
            if case .array(let elements) = payload { return elements }
            return []
        }
        /// The payload's bytes, cut out of the body.
        var payloadBuffer: ByteBuffer {
            let body = EnvelopeVectors.bytes(body)
            let payload = body.withUnsafeBytes { try! Envelope.split($0).payload }
            return ByteBuffer(bytes: body[(body.count - payload.count)...])
        }
    }

    static let vectors = (try? EnvelopeVectors.load("pool", as: Vector.self)) ?? []

    @Test func everyPoolKindHasAVectorUnderItsName() {
        #expect(!Self.vectors.isEmpty, "Protocols/vectors/pool.json is missing or does not decode")
        for kind in [PoolWire.task, PoolWire.results, PoolWire.cancel, PoolWire.initialize] {
            let named = Self.vectors.filter { $0.kindCode == kind.rawValue }
            #expect(!named.isEmpty, "no vector of kind \(kind.rawValue)")
            #expect(named.allSatisfy { $0.kind == PoolWire.name(kind) && $0.envelope[0] == kind.rawValue })
        }
    }

    @Test(arguments: vectors.filter { $0.kind == "poolTask" || $0.kind == "poolInitialize" })
    func theSupervisorWritesTheExactTaskFrame(_ vector: Vector) throws {
        guard case .string(let function) = vector.elements[0] else { Issue.record("no function name"); return }
        let arguments = try MessagePackEncoder().encode(vector.elements[1])
        var buffer = ByteBuffer()
        arguments.withUnsafeBytes {
            if vector.kind == "poolTask" {
                PoolWire.appendTask(to: &buffer, id: vector.envelope[4], worker: vector.envelope[3], function: function, encodedArguments: $0)
            } else {
                PoolWire.appendInitialize(to: &buffer, id: vector.envelope[4], worker: vector.envelope[3], function: function, encodedArguments: $0)
            }
        }
        #expect(EnvelopeVectors.hex(Array(buffer.readableBytesView)) == vector.frame)
    }

    @Test func theSupervisorWritesTheExactCancelFrame() throws {
        let vector = try #require(Self.vectors.first { $0.kind == "poolCancel" })
        var buffer = ByteBuffer()
        PoolWire.appendCancel(to: &buffer, id: vector.envelope[4], worker: vector.envelope[3])
        #expect(EnvelopeVectors.hex(Array(buffer.readableBytesView)) == vector.frame)
    }

    /// The failures of a results vector as the writer takes them.
    static func failures(_ vector: Vector) throws -> [(offset: Int, error: RemoteError)] {
        guard case .array(let failures) = vector.elements[2] else { return [] }
        return try failures.map { failure in
            guard case .array(let pair) = failure, case .uint(let offset) = pair[0] else { throw PoolWire.Malformed(offset: 0, expected: "a failure", found: "\(failure)") }
            return (Int(offset), try MessagePackDecoder().decode(RemoteError.self, from: try MessagePackEncoder().encode(pair[1])))
        }
    }

    @Test(arguments: vectors.filter { $0.kind == "poolResults" })
    func aWorkerWritesTheExactResultsFrame(_ vector: Vector) throws {
        guard case .uint(let offset) = vector.elements[0], case .uint(let state) = vector.elements[3] else {
            Issue.record("not [offset, outputs, failures, state]")
            return
        }
        let outputs = try MessagePackEncoder().encode(vector.elements[1])
        var frame: [UInt8] = []
        try outputs.withUnsafeBytes {
            PoolWire.appendResults(to: &frame, id: vector.envelope[4], worker: vector.envelope[2], offset: Int(offset),
                                   encodedOutputs: $0, failures: try Self.failures(vector), state: try #require(PoolWire.State(rawValue: UInt8(state))))
        }
        #expect(EnvelopeVectors.hex(frame) == vector.frame)
    }

    @Test(arguments: vectors.filter { $0.kind == "poolResults" })
    func theSupervisorSplitsAResultsFrame(_ vector: Vector) throws {
        let results = try PoolWire.parseResults(vector.payloadBuffer)
        #expect(.uint(UInt64(results.offset)) == vector.elements[0])
        #expect(try MessagePackValue(unpacking: Array(results.outputs.readableBytesView)) == vector.elements[1])
        guard case .array(let outputs) = vector.elements[1] else { return }
        #expect(results.count == outputs.count)
        let expected = try Self.failures(vector)
        #expect(results.failures.map(\.offset) == expected.map(\.offset))
        #expect(results.failures.map(\.error) == expected.map(\.error))
        #expect(.uint(UInt64(results.state.rawValue)) == vector.elements[3])
    }

    /// A payload of another shape is refused with the byte offset and what belonged there.
    @Test(arguments: [
        ([0x81, 0x00, 0x00] as [UInt8], 0, "an array [offset, outputs, failures, state]"),   // a map
        ([0x93, 0x00, 0x90, 0x90], 0, "an array of 4 elements [offset, outputs, failures, state]"),
        ([0x94, 0xff, 0x90, 0x90, 0x01], 1, "the offset, an unsigned integer"),                  // -1
        ([0x94, 0x00, 0x01, 0x90, 0x01], 2, "the outputs, an array"),
        ([0x94, 0x00, 0x92, 0x01, 0xcd, 0x00], 5, "an output (one msgpack value)"),               // truncated at its end
        ([0x94, 0x00, 0x91, 0x01, 0x91, 0x92, 0x05, 0x80, 0x01], 5, "a failure's offset within this frame's items 0..<1"),
        ([0x94, 0x00, 0x91, 0x01, 0x91, 0x92, 0x00, 0x07, 0x01], 7, "a failure's error, a map {\"type\", \"message\"}"),
        ([0x94, 0x00, 0x90, 0x90, 0x03], 4, "the state, 0, 1 or 2"),
        ([0x94, 0x00, 0x90, 0x90, 0x01, 0x01], 5, "the end of the payload"),
    ] as [([UInt8], Int, String)])
    func aMalformedResultsPayloadIsATypedErrorWithItsPlace(_ payload: [UInt8], _ offset: Int, _ expected: String) {
        #expect {
            _ = try PoolWire.parseResults(ByteBuffer(bytes: payload))
        } throws: { error in
            guard let malformed = error as? PoolWire.Malformed else { return false }
            return malformed.offset == offset && malformed.expected == expected
        }
    }

    @Test func anInitializerCarriesItsArgumentsAsOneItem() throws {
        let initializer = try PoolInitializer(PoolEntries.setUpWorker, 42)
        #expect(initializer.name == "pool-set-up-worker")
        #expect(initializer.encodedArguments == [0x91, 42])
        let add = ProcessFunction("pool-wire-test-set-two") { (_: Int, _: String) -> Void in }
        #expect(try PoolInitializer(add, 1, "x").encodedArguments == [0x91, 0x92, 0x01, 0xa1, 0x78])
    }

    /// Int and Double items are read and written at the header level: the same bytes as the
    /// encoder, nil in failed slots; anything they do not read goes the Codable way.
    @Test func scalarItemsCodeAsTheEncoderDoes() throws {
        let ints = [0, 1, -1, 127, 128, -33, Int.max, Int.min]
        #expect(ScalarItems.encode(ints, failed: []) == (try MessagePackEncoder().encode(ints)))
        #expect(ScalarItems.encode([1, 2], failed: [0, 2, 4]) == (try MessagePackEncoder().encode([nil, 1, nil, 2, nil] as [Int?])))
        #expect(ScalarItems.encode([0.5], failed: [1]) == (try MessagePackEncoder().encode([0.5, nil] as [Double?])))
        #expect(ScalarItems.encode(["x"], failed: []) == nil)
        let decoded = ScalarItems.decode(try MessagePackEncoder().encode(ints), as: ProcessArguments<Int>.self)
        #expect(decoded?.map(\.values) == ints)
        #expect(ScalarItems.decode(try MessagePackEncoder().encode([0.5, 2.0]), as: ProcessArguments<Double>.self)?.map(\.values) == [0.5, 2.0])
        #expect(ScalarItems.decode(try MessagePackEncoder().encode([1, "x"] as [MessagePackValue]), as: ProcessArguments<Int>.self) == nil)
        #expect(ScalarItems.decode(try MessagePackEncoder().encode([1, 2]), as: ProcessArguments<Int, Int>.self) == nil)
    }

    // MARK: a real worker

    @Test func aWorkerAnswersATaskOfSeveralItemsAndExitsWhenItsChannelEnds() async throws {
        try await withWorker { worker, probe in
            let answer = try await probe.run(worker, id: 1, "pool-square", [1, 2, 300] as [MessagePackValue])
            #expect(probe.spokePool(worker.id), "the worker announced the pool capability")
            #expect(answer.outputs == [1, 4, 90000])
            #expect(answer.failures.isEmpty)
            #expect(answer.state == .done)
            let sums = try await probe.run(worker, id: 2, "pool-add", [[1, 2], [-3, 4]] as [MessagePackValue])
            #expect(sums.outputs == [3, 1])
        }
    }

    /// A long chunk of trivial items: every output, in order, over frames that follow each
    /// other without gap or overlap (however many partial frames the clock asked for).
    @Test func aLongChunkIsAnsweredWholeAndInOrder() async throws {
        try await withWorker { worker, probe in
            let items = Array(0..<100_000)
            let answer = try await probe.run(worker, id: 1, "pool-square", arguments: try MessagePackEncoder().encode(items))
            #expect(answer.outputs == items.map { .int(Int64($0 * $0)) } || answer.outputs == items.map { .uint(UInt64($0 * $0)) })
            #expect(answer.failures.isEmpty && answer.state == .done)
            #expect(probe.frames(1).dropLast().allSatisfy { $0.state == .partial })
        }
    }

    @Test func aFailingItemFailsAloneWithTheErrorItThrew() async throws {
        try await withWorker { worker, probe in
            let answer = try await probe.run(worker, id: 5, "pool-fail-on", [1, 2, 3, 4, 10, 11] as [MessagePackValue])
            #expect(answer.outputs == [1, 2, nil, 4, nil, 11])
            #expect(answer.failures.map(\.offset) == [2, 4])
            #expect(answer.failures.map(\.error.typeName).allSatisfy { $0.hasSuffix("PoolTestError") })
            #expect(answer.failures.map(\.error.message) == ["bad(3)", "bad(10)"])
            #expect(answer.state == .done)
        }
    }

    @Test func anItemWhoseArgumentDoesNotDecodeFailsAlone() async throws {
        try await withWorker { worker, probe in
            let answer = try await probe.run(worker, id: 1, "pool-square", [1, "seven", 3] as [MessagePackValue])
            #expect(answer.outputs == [1, nil, 9])
            #expect(answer.failures.map(\.offset) == [1])
            let message = try #require(answer.failures.first?.error.message)
            #expect(message.contains("invalidArgument") && message.contains("item 1") && message.contains("pool-square") && message.contains("Int"))
            // Two arguments where the function takes two: one item of a wrong count fails alone.
            let sums = try await probe.run(worker, id: 2, "pool-add", [[1, 2], [1, 2, 3]] as [MessagePackValue])
            #expect(sums.outputs == [3, nil])
            #expect(sums.failures.map(\.offset) == [1])
        }
    }

    @Test func anUnknownFunctionFailsEveryItemAndTheWorkerGoesOn() async throws {
        try await withWorker { worker, probe in
            let answer = try await probe.run(worker, id: 1, "no-such-function", [1, 2] as [MessagePackValue])
            #expect(answer.outputs == [nil, nil])
            #expect(answer.failures.map(\.offset) == [0, 1])
            #expect(answer.failures.allSatisfy { $0.error.message.hasPrefix("unknownEntry") && $0.error.message.contains("no-such-function") })
            #expect(try await probe.run(worker, id: 2, "pool-square", [5] as [MessagePackValue]).outputs == [25])
        }
    }

    @Test func anInitializerRunsInTheWorkerBeforeItsTasks() async throws {
        try await withWorker { worker, probe in
            let initializer = try PoolInitializer(PoolEntries.setUpWorker, 42)
            let answer = try await probe.run(worker, id: 1, initializer.name, arguments: initializer.encodedArguments, initialize: true)
            #expect(answer.outputs == [nil])
            #expect(answer.failures.isEmpty && answer.state == .done)
            let seen = try await probe.run(worker, id: 2, "pool-init-value", [0] as [MessagePackValue])
            #expect(seen.outputs == [[42, .uint(UInt64(worker.pid))]])
        }
    }

    @Test func aCancelStopsARunningTaskThatNeverSuspends() async throws {
        try await withWorker { worker, probe in
            // 20,000 items of 1 ms each: far longer than the test waits before its cancel.
            let items = [MessagePackValue](repeating: 1_000, count: 20_000)
            probe.send(worker, id: 3, "pool-spin-micros", arguments: try MessagePackEncoder().encode(items))
            try await probe.waitForFrame(3)   // running: its first partial frame came
            probe.cancel(worker, id: 3)
            let answer = try await probe.answer(3)
            #expect(answer.state == .cancelled)
            #expect(answer.outputs.count < items.count, "the items after the cancel did not run")
            #expect(answer.outputs.allSatisfy { $0 == 1_000 })
            #expect(probe.frames(3).dropLast().allSatisfy { $0.state == .partial })
            // The worker takes the next task.
            #expect(try await probe.run(worker, id: 4, "pool-square", [3] as [MessagePackValue]).outputs == [9])
        }
    }

    @Test func aCancelledFunctionSeesTaskIsCancelled() async throws {
        try await withWorker { worker, probe in
            probe.send(worker, id: 6, "pool-cooperative", arguments: try MessagePackEncoder().encode([60_000, 1] as [MessagePackValue]))
            probe.cancel(worker, id: 6)
            let answer = try await probe.answer(6)
            // The cancel was read while the first item slept: it returned early, seeing it;
            // or the cancel came first and no item ran.
            #expect(answer.outputs == [true] || answer.outputs.isEmpty)
            #expect(answer.state == .cancelled)
        }
    }

    @Test func aSharedArrayTravelsAsAnArgumentOfEveryItem() async throws {
        let counters = try SharedArray<Int>(repeating: 0, count: 4)
        defer { try? counters.free() }
        try await withWorker { worker, probe in
            let items = [0, 2, 2].map { ProcessArguments($0, counters) }
            let answer = try await probe.run(worker, id: 1, "pool-record-run", arguments: try MessagePackEncoder().encode(items))
            #expect(answer.outputs == [0, 2, 2])
            #expect(answer.failures.isEmpty)
        }
        #expect(try counters.toArray() == [1, 0, 2, 0], "each item ran once, in the worker, on the parent's memory")
    }

    @Test func aCancelForATaskStillQueuedAnswersItWithoutRunningIt() async throws {
        try await withWorker { worker, probe in
            probe.send(worker, id: 1, "pool-sleep-millis", arguments: try MessagePackEncoder().encode([300] as [MessagePackValue]))
            probe.send(worker, id: 2, "pool-square", arguments: try MessagePackEncoder().encode([2, 3] as [MessagePackValue]))
            probe.cancel(worker, id: 2)
            let queued = try await probe.answer(2)
            #expect(queued.outputs.isEmpty && queued.state == .cancelled)
            let first = try await probe.answer(1)
            #expect(first.outputs == [300] && first.state == .done, "the task that was running is not touched")
            // A cancel for a task that is over is ignored.
            probe.cancel(worker, id: 1)
            #expect(try await probe.run(worker, id: 3, "pool-square", [4] as [MessagePackValue]).outputs == [16])
        }
    }

    // MARK: the test service

    /// Starts a pool worker under a supervisor whose only service is a ``PoolProbe``; closes
    /// its channel after `body` and checks it exits 0.
    func withWorker(_ body: (ChildProcess, PoolProbe) async throws -> Void) async throws {
        let probe = PoolProbe()
        // The default runtime's arena goes to the worker, so shared arrays travel in tasks.
        let arena = try Runtime.current.arenaSlot
        let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [probe], descriptorsForChildren: { arena.descriptorsForChildren }))
        let worker = try await supervisor.launch(entry: PoolWire.workerEntry, options: ProcessOptions(name: "PoolWorker-test"), trampoline: false)
        do {
            try await body(worker, probe)
        } catch {
            worker.kill()
            _ = try? await worker.join()
            await supervisor.shutdown()
            throw error
        }
        worker.closeMailbox()
        #expect(try await worker.join(timeout: .seconds(60)) == .exited(0), "a pool worker exits 0 when its channel ends")
        await supervisor.shutdown()
    }

    /// A task's answers gathered from its frames.
    struct Answer {
        var outputs: [MessagePackValue] = []
        var failures: [(offset: Int, error: RemoteError)] = []
        var state: PoolWire.State = .partial
    }

    /// Serves kinds 48...63 for one test: sends tasks and cancels to a worker, keeps every
    /// results frame it gets, by task id.
    final class PoolProbe: SupervisorService, @unchecked Sendable {   // host confined to the loop; the rest under `state`
        let kinds: ClosedRange<UInt8> = PoolWire.kinds
        let capabilities = [PoolWire.capability]
        private let state = Mutex<(frames: [UInt64: [PoolWire.Results]], spoke: [UInt64: Bool], errors: [String])>(([:], [:], []))
        private let hostSlot = Mutex<(any ServiceHost)?>(nil)

        func start(host: any ServiceHost) { hostSlot.withLock { $0 = host } }
        func stop() { hostSlot.withLock { $0 = nil } }
        func peerGone(_ peer: UInt64) {}

        func receive(_ frame: ServiceFrame, from peer: any ServicePeer) {
            let speaks = peer.speaks(PoolWire.capability)
            do {
                let (envelope, payload) = try frame.split()
                guard envelope.kind == PoolWire.results else { throw PoolWire.Malformed(offset: 0, expected: "results", found: "\(envelope.kind)") }
                let results = try PoolWire.parseResults(payload)
                state.withLock {
                    $0.frames[envelope.correlation, default: []].append(results)
                    $0.spoke[peer.id] = speaks
                }
            } catch {
                state.withLock { $0.errors.append("\(error)") }
            }
        }

        func spokePool(_ worker: UInt64) -> Bool { state.withLock { $0.spoke[worker] ?? false } }
        func frames(_ id: UInt64) -> [PoolWire.Results] { state.withLock { $0.frames[id] ?? [] } }

        private func write(_ build: (inout ByteBuffer) -> Void, to worker: ChildProcess) {
            guard let host = hostSlot.withLock({ $0 }) else { return }
            var buffer = ByteBuffer()
            build(&buffer)
            let frames = buffer
            let id = worker.id
            host.loop.execute { host.write(frames, to: id) }
        }

        func send(_ worker: ChildProcess, id: UInt64, _ function: String, arguments: [UInt8], initialize: Bool = false) {
            write({ buffer in
                arguments.withUnsafeBytes {
                    if initialize {
                        PoolWire.appendInitialize(to: &buffer, id: id, worker: worker.id, function: function, encodedArguments: $0)
                    } else {
                        PoolWire.appendTask(to: &buffer, id: id, worker: worker.id, function: function, encodedArguments: $0)
                    }
                }
            }, to: worker)
        }

        func cancel(_ worker: ChildProcess, id: UInt64) {
            write({ PoolWire.appendCancel(to: &$0, id: id, worker: worker.id) }, to: worker)
        }

        /// Waits (polling) until a frame of task `id` came.
        func waitForFrame(_ id: UInt64) async throws {
            for _ in 0..<6_000 where frames(id).isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            #expect(state.withLock { $0.errors } == [])
        }

        /// Waits (polling) for the final frame of task `id`, then gathers its frames.
        func answer(_ id: UInt64) async throws -> Answer {
            for _ in 0..<6_000 where frames(id).last.map({ $0.state == .partial }) ?? true {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(state.withLock { $0.errors } == [])
            var answer = Answer()
            for frame in frames(id) {
                #expect(frame.offset == answer.outputs.count, "frames follow each other without gap or overlap")
                let outputs = try MessagePackValue(unpacking: Array(frame.outputs.readableBytesView))
                guard case .array(let values) = outputs else { Issue.record("outputs are not an array"); continue }
                answer.outputs += values
                answer.failures += frame.failures
                answer.state = frame.state
            }
            return answer
        }

        func run(_ worker: ChildProcess, id: UInt64, _ function: String, arguments: [UInt8], initialize: Bool = false) async throws -> Answer {
            send(worker, id: id, function, arguments: arguments, initialize: initialize)
            return try await answer(id)
        }

        func run(_ worker: ChildProcess, id: UInt64, _ function: String, _ items: [MessagePackValue]) async throws -> Answer {
            try await run(worker, id: id, function, arguments: try MessagePackEncoder().encode(items))
        }
    }
}
