import Foundation
import MessagePack
import Multiprocessing

/// One stage of a running pipeline: its workers under a ``Supervisor`` of their own (the
/// stage's restart policy), and per worker up to ``Stage/inFlight`` loops (lanes), each of
/// which takes an item from the input queue, sends it to the worker as a request and puts the
/// reply's items on the output queue: the worker's pipe holds its next items while it works,
/// so short items do not each wait for a round trip. Only lane 0 always runs: the others take
/// an item only while the worker answers within ``queueingBudget`` (items wait in its pipe no
/// longer than that), so long items go one at a time and one worker never holds items an idle
/// one could take. An item whose worker died before answering is sent again to the worker
/// that replaces it; an item answered with an error is counted, reported and dropped.
actor StageRunner {
    let stage: Stage
    let input: ItemQueue
    let output: ItemQueue?
    /// `mpctl exec`: the outputs of one item stay together (see ``PipelineItem``).
    let keepsGroups: Bool
    private let program: String
    private let environment: [String: String]
    private let workingDirectory: String
    private let outputLines: WorkerOutput
    private let emit: @Sendable (PipelineEvent) -> Void
    private let grace: Duration
    private let supervisor: Supervisor

    /// The stage's worker slots by id ("parse[0]"), in start order; a retired slot ends after
    /// its current item (a scale down).
    private var slots: [String] = []
    private var retiring: Set<String> = []
    /// The loops waiting for an item (a retired one is cancelled there, never inside a request).
    private var waitingForItem: Set<Lane> = []
    private var nextSlot = 0
    private var loops: [Lane: Task<Void, Never>] = [:]
    /// Per worker: the recent time from request to answer (an average, seconds).
    private var answerTime: [String: Double] = [:]
    /// Lanes past the first waiting for their worker's answers to get quick again.
    private var parked: [Lane: CheckedContinuation<Void, Never>] = [:]

    /// How long items may wait in a worker's pipe behind the one it works on: lanes beyond the
    /// first take items only while answers come within this (and not before the first answer).
    static let queueingBudget = 0.005

    /// One of a worker's loops.
    private struct Lane: Hashable {
        let worker: String
        let number: Int
    }
    private var loopsEnded: [CheckedContinuation<Void, Never>] = []
    private var stopping = false
    /// Scaled to 0 workers by an operator: the stage waits.
    private var paused = false
    /// A loop found the input queue ended: the stage did all its work.
    private var inputEnded = false
    private(set) var state = "starting"

    private var restarts = 0
    private var itemsIn = 0
    private var itemsOut = 0
    private var failed = 0
    private var redelivered = 0

    init(stage: Stage, input: ItemQueue, output: ItemQueue?, keepsGroups: Bool, program: String,
         environment: [String: String], workingDirectory: String, outputLines: WorkerOutput, grace: Duration,
         emit: @escaping @Sendable (PipelineEvent) -> Void) {
        self.stage = stage
        self.input = input
        self.output = output
        self.keepsGroups = keepsGroups
        self.program = program
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.outputLines = outputLines
        self.grace = grace
        self.emit = emit
        let ids = (0..<stage.count).map { "\(stage.name)[\($0)]" }
        nextSlot = stage.count
        self.supervisor = Supervisor(strategy: stage.restart.strategy, intensity: stage.restart.intensity,
                                     period: stage.restart.period, children: [])
        self.slots = ids
    }

    /// The spec of the worker `id`: the stage's command with its environment, folder and policy.
    private func spec(_ id: String) -> ChildSpec {
        var environment = environment
        environment["MP_STAGE"] = stage.name
        var options = ProcessOptions(environment: environment, workingDirectory: workingDirectory, name: id)
        options.output = .lines(outputLines.lines(of: id))
        options.handshakeTimeout = .seconds(30)
        return .executable(id, program, arguments: Array(stage.command.dropFirst()), entry: stage.entry,
                           restart: stage.restart.restart, shutdown: .timeout(grace), options: options)
    }

    /// Starts the workers (throws a ``PipelineFailure`` if one cannot start) and their loops;
    /// `failed` is called once if the supervisor gives up later.
    func start(failed: @escaping @Sendable (PipelineFailure) -> Void) async throws {
        let supervisor = self.supervisor
        let stageName = stage.name
        let emit = self.emit
        Task { [weak self] in
            for await event in supervisor.events {
                switch event {
                case .started(let id, let pid): emit(.started(stage: stageName, worker: id, pid: pid))
                case .exited(let id, let status): emit(.exited(stage: stageName, worker: id, status: "\(status)"))
                case .restarting(let id):
                    await self?.countRestart()
                    emit(.restarting(stage: stageName, worker: id))
                case .gaveUp, .stopped: break
                }
            }
        }
        do {
            try await supervisor.start()
            for id in slots { try await startFirst(id) }
        } catch {
            await supervisor.shutdown()
            state = "failed"
            throw PipelineFailure(stage: stage.name, reason: "a worker cannot start: \(Self.reason(error))",
                                  lastErrorLines: outputLines.lastErrorLines(ofWorkersNamed: stage.name))
        }
        state = "running"
        Task { [weak self] in
            do {
                try await supervisor.wait()
            } catch {
                guard let self else { return }
                let lines = self.outputLines.lastErrorLines(ofWorkersNamed: stageName)
                await self.markFailed()
                failed(PipelineFailure(stage: stageName, reason: Self.reason(error), lastErrorLines: lines))
            }
        }
        for id in slots { startLoop(id) }
    }

    /// Starts the worker `id` for the first time. A worker that fails to start (it exits before
    /// its handshake, or does not speak the protocol) is handled by the stage's policy, as a
    /// crash is later: tried again, unless that is more than `intensity` tries within `period`
    /// (or the policy is temporary); then the last error is thrown.
    private func startFirst(_ id: String) async throws {
        var failures: [ContinuousClock.Instant] = []
        while true {
            do {
                try await supervisor.startChild(spec(id))
                return
            } catch {
                let now = ContinuousClock.now
                failures.append(now)
                failures.removeAll { now - $0 > stage.restart.period }
                guard stage.restart.restart != .temporary, failures.count <= stage.restart.intensity else { throw error }
                restarts += 1
                emit(.restarting(stage: stage.name, worker: id))
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Returns once every worker loop has ended (the input is drained or the pipeline stops),
    /// then ends the workers gently (their mailboxes close) and tells the output queue. A
    /// failure when the workers ended for good (a policy that does not restart them) before
    /// the input did.
    func finish() async -> PipelineFailure? {
        // A stage scaled to 0 (paused by an operator) waits to be scaled up again.
        while !loops.isEmpty || (paused && !inputEnded && !stopping) { await withCheckedContinuation { loopsEnded.append($0) } }
        var failure: PipelineFailure?
        if state != "failed" {
            await supervisor.drain(grace: grace)
            if !stopping, !inputEnded {
                state = "failed"
                failure = PipelineFailure(stage: stage.name,
                                          reason: "every worker ended (restart policy \(stage.restart.restart)) with \(await input.depth) item(s) left in \(input.name)",
                                          lastErrorLines: outputLines.lastErrorLines(ofWorkersNamed: stage.name))
            } else if !stopping {
                state = "done"
            }
        }
        await output?.producerFinished()
        return failure
    }

    /// No item is taken any more and no worker awaited: the first step of a stop.
    func beginStopping() {
        stopping = true
        unpark { _ in true }
        wakeFinish()
    }

    /// Stops the workers now (SIGTERM, the grace period, SIGKILL): a failure elsewhere or an
    /// interrupt. The loops end with them.
    func stop() async {
        stopping = true
        await supervisor.shutdown()
        if state == "running" || state == "starting" { state = "stopped" }
    }

    /// An operator's restart of every worker of the stage, one after the other.
    func restartWorkers() async throws {
        for id in slots { try await supervisor.restartChild(id) }
    }

    /// Scales to `count` workers: new ones start now, surplus ones finish their item first; 0
    /// pauses the stage (its input waits) until it is scaled up again.
    func scale(to count: Int) async throws {
        guard count >= 0 else { throw PipelineFailure(stage: stage.name, reason: "a stage cannot run \(count) workers") }
        guard !stopping, state == "running" else { throw PipelineFailure(stage: stage.name, reason: "the stage is \(state)") }
        let active = slots.filter { !retiring.contains($0) }
        paused = count == 0
        if count > active.count {
            for _ in active.count..<count {
                let id = "\(stage.name)[\(nextSlot)]"
                nextSlot += 1
                try await supervisor.startChild(spec(id))
                slots.append(id)
                startLoop(id)
            }
        } else {
            for id in active.suffix(active.count - count) {
                retiring.insert(id)
                for lane in waitingForItem where lane.worker == id { loops[lane]?.cancel() }   // a loop waiting for an item ends now
                unpark { $0.worker == id }
            }
        }
        wakeFinish()
        emit(.scaled(stage: stage.name, workers: count))
    }

    func snapshot() async -> StageSnapshot {
        var alive = 0
        var rss = 0
        for id in slots {
            if let child = await supervisor.child(id), child.isAlive {
                alive += 1
                rss += Self.residentBytes(of: child.pid)
            }
        }
        return StageSnapshot(name: stage.name, alive: alive, total: slots.count - retiring.count, restarts: restarts,
                             itemsIn: itemsIn, itemsOut: itemsOut, failed: failed, redelivered: redelivered,
                             queueDepth: await input.depth, queueMaxsize: input.maxsize, rssBytes: rss, state: state)
    }

    // MARK: the worker loops

    /// Starts the lanes of the worker `id`.
    private func startLoop(_ id: String) {
        for number in 0..<stage.inFlight {
            let lane = Lane(worker: id, number: number)
            loops[lane] = Task { [self] in
                await self.runLoop(lane)
                await self.loopEnded(lane)
            }
        }
    }

    private func loopEnded(_ lane: Lane) async {
        loops[lane] = nil
        let id = lane.worker
        if retiring.contains(id), !loops.keys.contains(where: { $0.worker == id }) {
            retiring.remove(id)
            slots.removeAll { $0 == id }
            try? await supervisor.terminateChild(id, grace: grace)
        }
        wakeFinish()
    }

    /// ``finish()`` looks again.
    private func wakeFinish() {
        for waiter in loopsEnded { waiter.resume() }
        loopsEnded.removeAll()
    }

    private func runLoop(_ lane: Lane) async {
        let id = lane.worker
        while !stopping, !retiring.contains(id) {
            if lane.number > 0, !inputEnded, (answerTime[id] ?? .infinity) > Self.queueingBudget {
                await withCheckedContinuation { parked[lane] = $0 }
                continue
            }
            waitingForItem.insert(lane)
            let next = await input.get()
            waitingForItem.remove(lane)
            guard let item = next else {
                if !Task.isCancelled {
                    inputEnded = true
                    unpark { _ in true }
                }
                return
            }
            if Task.isCancelled {   // retired just as an item came: it goes to the others
                await input.putBack(item)
                return
            }
            itemsIn += item.values.count
            var outputs: [MessagePackValue] = []
            for (index, value) in item.values.enumerated() {
                guard let answer = await process(value, on: id) else {
                    // The worker is gone for good: the rest of the item goes back on the queue.
                    if !stopping { await input.putBack(PipelineItem(sequence: item.sequence, values: Array(item.values[index...]))) }
                    itemsIn -= item.values.count - index
                    return
                }
                outputs += answer
            }
            itemsOut += outputs.count
            guard let output else { continue }
            if keepsGroups {
                await output.put(PipelineItem(sequence: item.sequence, values: outputs))
            } else {
                for value in outputs { await output.put(PipelineItem(sequence: item.sequence, values: [value])) }
            }
        }
    }

    /// The outputs of one value, from the worker `id` (sent again to its successor if it dies);
    /// nil when it has no successor (its policy does not restart it, or the stage stops).
    private func process(_ value: MessagePackValue, on id: String) async -> [MessagePackValue]? {
        var dead: ChildProcess?
        while true {
            guard let child = await worker(id, after: dead) else { return nil }
            do {
                let sent = ContinuousClock.now
                let reply = try await child.request(value, as: MessagePackValue.self)
                answered(by: id, after: ContinuousClock.now - sent)
                guard case .array(let outputs) = reply else {
                    itemFailed(id, value, "the reply is not an array of output items (Protocols/PROTOCOL.md, \"Pipeline stages\"): \(ItemText.render(reply))")
                    return []
                }
                return outputs
            } catch let error as RemoteError {
                itemFailed(id, value, "\(error.typeName): \(error.message)")
                return []
            } catch {
                // The worker died with it (or its channel closed as it dies, before it is
                // reaped: a request sent after that fails `disconnected`): the successor gets it.
                let code = (error as? ProcessError)?.code
                if child.isAlive, !stopping, code != .childExited, code != .disconnected {
                    itemFailed(id, value, Self.reason(error))
                    return []
                }
                dead = child
                _ = try? await child.join(timeout: .seconds(1))
                if !stopping { redelivered += 1 }
            }
        }
    }

    /// The running worker `id` other than `dead`, waiting while it restarts; nil when the stage
    /// stops or the worker will not come back.
    private func worker(_ id: String, after dead: ChildProcess?) async -> ChildProcess? {
        while !stopping, state != "failed" {
            if let child = await supervisor.child(id), child !== dead, child.isAlive { return child }
            if let dead, let status = dead.status, await supervisor.child(id) == nil {
                let restarted: Bool
                switch stage.restart.restart {
                case .permanent: restarted = true
                case .transient: restarted = status != .exited(0)
                case .temporary: restarted = false
                }
                if !restarted { return nil }
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Records how long the worker `id` took to answer; lanes parked for it go on once its
    /// answers are quick.
    private func answered(by id: String, after duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
        let average = answerTime[id].map { 0.8 * $0 + 0.2 * seconds } ?? seconds
        answerTime[id] = average
        if average <= Self.queueingBudget { unpark { $0.worker == id } }
    }

    /// Wakes the parked lanes that match.
    private func unpark(_ matching: (Lane) -> Bool) {
        for (lane, continuation) in parked where matching(lane) {
            parked[lane] = nil
            continuation.resume()
        }
    }

    private func itemFailed(_ id: String, _ value: MessagePackValue, _ error: String) {
        failed += 1
        emit(.itemFailed(stage: stage.name, worker: id, item: ItemText.render(value), error: error))
    }

    private func countRestart() { restarts += 1 }

    private func markFailed() {
        state = "failed"
        stopping = true
    }

    /// A failure's reason without the supervisor's code.
    static func reason(_ error: any Error) -> String {
        if let error = error as? SupervisorError {
            switch error.code {
            case .intensityExceeded: return "restart intensity exhausted: \(error.message)"
            default: return error.message
            }
        }
        return "\(error)"
    }

    /// Resident memory of `pid` from /proc/PID/statm (0 when it is gone).
    static func residentBytes(of pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
