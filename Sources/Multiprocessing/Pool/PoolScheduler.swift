import MessagePack
import NIOCore
import Synchronization

/// The counters behind ``PoolProgress``: written on the loop, read from any thread.
final class PoolCounters: Sendable {
    /// The supervisor's pool-task counters (swift-metrics), told beside the atomics.
    let metrics: SupervisorMetrics?
    let total = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let running = Atomic<Int>(0)
    let rerun = Atomic<Int>(0)

    init(metrics: SupervisorMetrics?) { self.metrics = metrics }

    /// `count` more inputs were submitted.
    func submitted(_ count: Int) {
        total.add(count, ordering: .relaxed)
        metrics?.poolTasksSubmitted.increment(by: Int64(count))
    }

    /// `count` inputs finished: `failures` of them failed.
    func finished(_ count: Int, failures: Int) {
        failed.add(failures, ordering: .relaxed)
        completed.add(count - failures, ordering: .relaxed)
        if failures > 0 { metrics?.poolTasksFailed.increment(by: Int64(failures)) }
        if count > failures { metrics?.poolTasksCompleted.increment(by: Int64(count - failures)) }
    }

    var snapshot: PoolProgress {
        PoolProgress(total: total.load(ordering: .relaxed), completed: completed.load(ordering: .relaxed),
                     failed: failed.load(ordering: .relaxed), running: running.load(ordering: .relaxed),
                     rerun: rerun.load(ordering: .relaxed))
    }
}

/// One pool on the supervisor's loop: its workers, the chunks waiting for them, and what
/// happens when a worker answers, dies, overruns its deadline or is to be recycled. Every
/// method runs on the loop (the ``PoolService`` hosting it calls in there); the typed
/// ``ProcessPool`` talks to it through `loop.execute`.
///
/// The rules (issue 12): one task per worker at a time; a worker that dies fails only its own
/// task, and a chunk of several inputs whose worker died runs again input by input, so that
/// one poisonous input is named exactly; an input whose worker died is retried up to
/// `retries` times, then fails with the worker's exit status; a timed-out input fails and its
/// worker is killed; every lost worker is replaced while the pool runs. Nothing waits forever.
// Unchecked: confined to the loop (every `var` is touched there only); `counters` is atomic.
final class PoolScheduler: @unchecked Sendable {
    /// Where a worker is in its life.
    private enum WorkerState {
        /// Running the initializer (its task id).
        case initializing(UInt64)
        /// Taking tasks.
        case ready
        /// Its channel was closed (recycled, initializer failed, pool closed): it is on its way out.
        case leaving
    }

    /// Why the pool ended a worker itself (a worker that ends without one died).
    private enum EndReason {
        case timedOut, cancelled, terminated, retired
    }

    // Unchecked: confined to the loop, as the scheduler.
    private final class Worker: @unchecked Sendable {
        let process: ChildProcess
        var state: WorkerState
        /// The tasks sent to it, in order: the first runs, the others wait in its mailbox
        /// (at most ``PoolScheduler/tasksPerWorker``, so it never waits for the loop between tasks).
        var tasks: [PoolChunk] = []
        var itemsDone = 0
        /// Inputs sent to it and not answered.
        var itemsOut = 0
        var deadline: Scheduled<Void>?
        var endReason: EndReason?
        /// When the task it runs now started running (it was sent, or the one before it ended).
        var headSince = NIODeadline.now()
        /// How it ended, once it did (a worker type's worker whose requests still report).
        var goneStatus: TerminationStatus?

        init(process: ChildProcess, state: WorkerState) {
            self.process = process
            self.state = state
        }
    }

    private enum Phase { case running, closing, terminated }

    /// How tasks reach the workers.
    enum Transport: Sendable {
        /// Workers run the built-in pool entry and call the function `function` names by name,
        /// a chunk of inputs per `poolTask` frame.
        case functions
        /// Workers run the ``Worker`` type registered as `entry`; each input is a request to
        /// its mailbox and its reply is the result (one input per task).
        case mailbox(entry: String)
    }

    /// Tasks a worker holds at once: the one it runs and the next ones, sent ahead so that it
    /// starts them without waiting for a round trip through the loop (a 50 us task would
    /// otherwise leave its worker idle for about as long again). Those sent ahead have not
    /// started when their worker dies, so they run again elsewhere as they are. Short tasks
    /// (under ``shortTask`` lately) get ``tasksPerWorkerWhenShort``: a round trip through the
    /// loop and the caller is several of them. Longer ones get two, so that a long task does
    /// not keep many others waiting behind it while another worker could run them.
    static let tasksPerWorker = 2
    static let tasksPerWorkerWhenShort = 6
    static let shortTask: Int64 = 1_000_000   // nanoseconds

    /// How long tasks took lately (an average over the last few, in nanoseconds).
    private var recentTaskNanoseconds: Int64 = 1_000_000
    private var tasksAhead: Int { recentTaskNanoseconds < Self.shortTask ? Self.tasksPerWorkerWhenShort : Self.tasksPerWorker }

    let function: String
    let transport: Transport
    let options: PoolOptions
    let workerCount: Int
    let loop: any EventLoop
    let counters: PoolCounters
    private let launcher: any ChildLauncher
    private weak var service: PoolService?

    private var workers: [UInt64: Worker] = [:]
    /// Workers of a worker type that ended while their requests still report: a reply read
    /// before the end is still on its way (each request is a task), so the end is judged
    /// request by request as they report.
    private var dying: [UInt64: Worker] = [:]
    private var queue = PoolQueue()
    private var phase = Phase.running
    private var starting = 0
    /// Workers the pool adopted rather than started (remote workers): not replaced when they
    /// end (their launcher restarts them elsewhere).
    private var adopted: Set<UInt64> = []
    private var nextTaskID: UInt64 = 1
    private var consecutiveStartFailures = 0
    private var consecutiveInitializerFailures = 0
    /// Set when the pool cannot run anything (workers cannot start, the initializer keeps failing).
    private var broken: PoolError?
    private var joinWaiters: [CheckedContinuation<Void, Never>] = []
    /// The start: resumed once every first worker is ready, or with the first failure.
    private var readyWaiter: CheckedContinuation<Void, any Error>?
    private var readyCount = 0

    init(function: String, transport: Transport = .functions, options: PoolOptions, workerCount: Int, launcher: any ChildLauncher,
         service: PoolService, loop: any EventLoop) {
        self.function = function
        self.transport = transport
        self.options = options
        self.workerCount = workerCount
        self.launcher = launcher
        self.service = service
        self.loop = loop
        counters = PoolCounters(metrics: service.host?.metrics)
    }

    /// Whether every task carries one input (a worker type's request).
    var runsOneInputPerTask: Bool {
        if case .mailbox = transport { return true }
        return false
    }

    // MARK: starting

    /// Starts the workers and returns once each is ready (its initializer ran); throws the
    /// first start or initializer failure (the caller then terminates the pool).
    func start() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            loop.execute { [self] in
                readyWaiter = continuation
                for _ in 0..<workerCount { startWorker() }
            }
        }
    }

    private func workerBecameReady() {
        readyCount += 1
        if readyCount == workerCount, let waiter = readyWaiter {
            readyWaiter = nil
            waiter.resume()
        }
    }

    private func startFailed(_ error: any Error) {
        if let waiter = readyWaiter {
            readyWaiter = nil
            waiter.resume(throwing: error)
        }
    }

    private func startWorker() {
        starting += 1
        var processOptions = options.process
        if processOptions.name == nil { processOptions = ProcessNames.assign(processOptions, prefix: "PoolWorker") }
        Task { [self, launcher, processOptions] in
            do {
                let entry: String
                switch transport {
                case .functions: entry = PoolWire.workerEntry
                case .mailbox(let name): entry = name
                }
                let process = try await launcher.launch(entry: entry, options: processOptions, trampoline: false)
                loop.execute { self.workerStarted(process) }
            } catch {
                loop.execute { self.workerFailedToStart(error) }
            }
        }
    }

    /// Adds a worker started elsewhere, such as a remote worker that joined a `WorkerServer`
    /// (on the loop). It must run this pool's worker entry (the built-in pool entry for a
    /// function's pool: its welcome agreed the pool capability). It takes tasks like the others;
    /// when it ends, its task is redelivered or fails as any worker's, and it is not replaced.
    func adopt(_ process: ChildProcess) throws(PoolError) {
        guard phase == .running, broken == nil else {
            throw broken ?? PoolError(.closed, function: function, index: nil, message: "the pool was closed; it adopts no worker")
        }
        guard workers[process.id] == nil, process.isAlive else {
            throw PoolError(.invalidArgument, function: function, index: nil, message: "\(process.name) is already this pool's, or has ended")
        }
        if case .functions = transport, let record = process.record as? ChildRecord, !record.speaks(PoolWire.capability) {
            throw PoolError(.invalidArgument, function: function, index: nil,
                            message: "\(process.name) does not run the pool worker entry (\"\(PoolWire.workerEntry)\"): start it with that entry to adopt it")
        }
        adopted.insert(process.id)
        starting += 1
        workerStarted(process)
    }

    private func workerStarted(_ process: ChildProcess) {
        starting -= 1
        consecutiveStartFailures = 0
        let worker = Worker(process: process, state: .ready)
        workers[process.id] = worker
        guard let service, service.adopt(process.id, by: self) else {
            // It ended before it could be adopted: handle it as gone.
            workerGone(process.id)
            return
        }
        guard phase != .terminated else {
            worker.endReason = .terminated
            worker.process.kill()
            return
        }
        if let initializer = options.initializer {
            let id = takeTaskID()
            worker.state = .initializing(id)
            var frame = ByteBufferAllocator().buffer(capacity: initializer.encodedArguments.count + 64)
            initializer.encodedArguments.withUnsafeBytes {
                PoolWire.appendInitialize(to: &frame, id: id, worker: process.id, function: initializer.name, encodedArguments: $0)
            }
            service.host?.write(frame, to: process.id)
        } else {
            becameReady(worker)
            workerBecameReady()
            dispatch()
        }
    }

    private func workerFailedToStart(_ error: any Error) {
        starting -= 1
        consecutiveStartFailures += 1
        if readyWaiter != nil {
            startFailed(error)
            return
        }
        guard phase == .running else { return finishIfDone() }
        if workers.isEmpty, starting == 0, consecutiveStartFailures >= 3 {
            breakPool(PoolError(.workerUnavailable, function: function, index: nil,
                                message: "no worker could be started (\(consecutiveStartFailures) attempts in a row): \(error)"))
            return
        }
        // Try again a little later, more slowly each time.
        loop.scheduleTask(in: .milliseconds(Int64(50 * consecutiveStartFailures))) { [self] in
            if phase == .running { startWorker() }
        }
    }

    // MARK: work in

    /// Queues `chunks` (on the loop) and hands them to workers with room.
    func submit(_ chunks: [PoolChunk]) {
        guard phase == .running, broken == nil else {
            let error = broken ?? PoolError(.closed, function: function, index: nil, message: "the pool was closed; it takes no new work")
            for chunk in chunks { failAll(chunk, from: 0, error) }
            return
        }
        queue.append(contentsOf: chunks)
        dispatch()
    }

    /// Hands queued chunks to workers with room: first to those with nothing to do, then one
    /// ahead to those running a task.
    private func dispatch() {
        var depth = 0
        let limit = tasksAhead
        while !queue.isEmpty, depth < limit {
            var gave = false
            for worker in workers.values where hasRoom(worker, depth: depth) {
                guard let chunk = nextChunk() else { break }
                send(chunk, to: worker)
                gave = true
            }
            if !gave { depth += 1 }
        }
        if phase == .closing, queue.isEmpty { retireIdleWorkers() }
    }

    /// Whether `worker` takes a task now, holding `depth` already: not past its
    /// `maxTasksPerChild` (counting what it holds) and not leaving.
    private func hasRoom(_ worker: Worker, depth: Int) -> Bool {
        guard case .ready = worker.state, worker.tasks.count == depth else { return false }
        if let limit = options.maxTasksPerChild, worker.itemsDone + worker.itemsOut >= limit { return false }
        return true
    }

    /// The next queued chunk whose caller still listens.
    private func nextChunk() -> PoolChunk? {
        while let chunk = queue.popFirst() {
            if chunk.call.isAbandoned { dropCancelled(chunk) } else { return chunk }
        }
        return nil
    }

    private func takeTaskID() -> UInt64 {
        defer { nextTaskID &+= 1 }
        return nextTaskID
    }

    private func send(_ chunk: PoolChunk, to worker: Worker) {
        guard let host = service?.host else { return }
        chunk.taskID = takeTaskID()
        chunk.attempts += 1
        worker.tasks.append(chunk)
        let items = chunk.count - chunk.answered
        worker.itemsOut += items
        counters.running.add(items, ordering: .relaxed)
        if worker.tasks.count == 1 {
            worker.headSince = NIODeadline.now()
            armDeadline(worker)
        }
        switch transport {
        case .functions:
            var frame = ByteBufferAllocator().buffer(capacity: chunk.arguments.count + function.utf8.count + 32)
            chunk.arguments.withUnsafeBytes {
                PoolWire.appendTask(to: &frame, id: chunk.taskID, worker: worker.process.id, function: function, encodedArguments: $0)
            }
            host.write(frame, to: worker.process.id)
            // Spin for the answer only when this task is the worker's only one: a task sent
            // ahead is not answered soon, and a busy pool needs every CPU for its workers.
            if worker.tasks.count == 1 { host.spinForAnswersSoon() }
        case .mailbox:
            request(chunk, of: worker)
        }
    }

    /// A worker type's task: its one input as a request to the worker's mailbox, whose reply
    /// (or error envelope) comes back as the task's results.
    private func request(_ chunk: PoolChunk, of worker: Worker) {
        let id = worker.process.id, taskID = chunk.taskID, process = worker.process
        let input: MessagePackValue
        do {
            input = try chunk.arguments.withUnsafeBytes { raw in
                var reader = MessagePackReader(raw)
                _ = try reader.readArrayHeader()
                return try reader.readValue()
            }
        } catch {
            return mailboxAnswered(id, task: taskID, .failure(error))
        }
        // In order: a worker gets its inputs in the order they were sent (separate tasks could
        // deliver a later one first, and an input that kills the worker took an earlier one with it).
        process.record.requestInOrder(input) { [self] answer in
            loop.execute { self.mailboxAnswered(id, task: taskID, answer) }
        }
    }

    private func mailboxAnswered(_ id: UInt64, task taskID: UInt64, _ answer: Result<FrameBody, any Error>) {
        if let worker = dying[id] { return dyingWorkerAnswered(worker, task: taskID, answer) }
        // A worker type may answer its requests out of order: the answered task goes first.
        guard let worker = workers[id], let position = worker.tasks.firstIndex(where: { $0.taskID == taskID }) else { return }
        let chunk = worker.tasks[position]
        if position > 0 {
            worker.tasks.remove(at: position)
            worker.tasks.insert(chunk, at: 0)
        }
        let results: PoolWire.Results
        switch answer {
        case .success(let reply):
            results = Self.results(of: reply)
        case .failure(let error):
            // The worker is dying: its death fails or reruns the input. Otherwise (the
            // request could not be sent) the input fails with the reason.
            guard worker.process.isAlive, worker.endReason == nil else { return }
            results = Self.results(failed: RemoteError(error))
        }
        deliver(results, of: chunk, by: worker)
        chunkEnded(chunk, on: worker, cancelled: false)
    }

    /// A worker type's reply as the results of its one input: the reply's payload as the
    /// output, or an error reply as the input's failure.
    private static func results(of reply: FrameBody) -> PoolWire.Results {
        guard reply.envelope.kind == .error else {
            var outputs: [UInt8] = [0x91]   // an array of the one output
            reply.withPayloadBytes { outputs.append(contentsOf: $0) }
            return PoolWire.Results(offset: 0, outputs: ByteBufferAllocator().buffer(bytes: outputs), count: 1, failures: [], state: .done)
        }
        return results(failed: (try? reply.decodePayload(RemoteError.self))
            ?? RemoteError(typeName: "ProtocolError.malformed", message: "an error reply that does not parse"))
    }

    /// The results of one input that failed with `error` (its slot nil).
    private static func results(failed error: RemoteError) -> PoolWire.Results {
        PoolWire.Results(offset: 0, outputs: ByteBufferAllocator().buffer(bytes: [0x91, 0xc0]), count: 1,
                         failures: [(0, error)], state: .done)
    }

    /// A request of a worker that ended reports: a reply is delivered; a failure of the request
    /// it ran (the first unanswered) is its death's, and one sent ahead runs again elsewhere.
    private func dyingWorkerAnswered(_ worker: Worker, task taskID: UInt64, _ answer: Result<FrameBody, any Error>) {
        guard let position = worker.tasks.firstIndex(where: { $0.taskID == taskID }) else { return }
        let chunk = worker.tasks.remove(at: position)
        switch answer {
        case .success(let reply):
            deliver(Self.results(of: reply), of: chunk, by: worker)
        case .failure:
            // The worker answers in order: the first request left is the one it was running.
            if position == 0 {
                lost(chunk, on: worker, status: worker.goneStatus ?? .unknown)
            } else {
                chunk.attempts -= 1
                counters.running.subtract(chunk.count - chunk.answered, ordering: .relaxed)
                queue.prepend([chunk])
            }
        }
        if worker.tasks.isEmpty { dying[worker.process.id] = nil }
        dispatch()
        finishIfDone()
    }

    /// Starts the clock of the task `worker` runs now (with a `taskTimeout`): its inputs times the timeout.
    private func armDeadline(_ worker: Worker) {
        worker.deadline?.cancel()
        worker.deadline = nil
        guard let timeout = options.taskTimeout, let chunk = worker.tasks.first else { return }
        let remaining = Int64(chunk.count - chunk.answered)
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        worker.deadline = loop.scheduleTask(in: .nanoseconds(nanoseconds * remaining)) { [weak worker] in
            guard let worker, worker.tasks.first === chunk else { return }
            worker.endReason = .timedOut
            worker.process.kill()
        }
    }

    // MARK: answers

    /// A results frame from worker `id` for task `taskID`.
    func received(_ results: PoolWire.Results, task taskID: UInt64, from id: UInt64) {
        guard let worker = workers[id] else { return }
        if case .initializing(let expected) = worker.state, expected == taskID {
            guard results.state != .partial else { return }
            initializerAnswered(worker, failure: results.failures.first?.error)
            return
        }
        // A worker runs its tasks in order: an answer is for the first it holds.
        guard let chunk = worker.tasks.first, chunk.taskID == taskID else {
            RuntimeLog.warning("[pool] \(worker.process.name) answered task \(taskID), which it is not running: dropped",
                               metadata: ["worker": "\(worker.process.name)", "pid": "\(worker.process.pid)"])
            return
        }
        guard results.offset == chunk.answered, chunk.answered + results.count <= chunk.count else {
            RuntimeLog.warning("[pool] \(worker.process.name) answered inputs \(results.offset)..<\(results.offset + results.count) of a task of \(chunk.count) at \(chunk.answered): dropped",
                               metadata: ["worker": "\(worker.process.name)", "pid": "\(worker.process.pid)"])
            return
        }
        deliver(results, of: chunk, by: worker)
        if results.state != .partial { chunkEnded(chunk, on: worker, cancelled: results.state == .cancelled) }
    }

    private func deliver(_ results: PoolWire.Results, of chunk: PoolChunk, by worker: Worker) {
        guard results.count > 0 else { return }
        var events: [PoolCall.Event] = []
        var failed: [Int] = []
        for failure in results.failures where failure.offset >= results.offset && failure.offset < results.offset + results.count {
            failed.append(failure.offset - results.offset)
            events.append(.failure(PoolError(.functionFailed, function: function, index: chunk.indexed ? chunk.firstIndex + failure.offset : nil,
                                             worker: worker.process.name, workerPID: worker.process.pid, remote: failure.error,
                                             attempts: chunk.attempts, message: "the function threw \(failure.error)")))
        }
        events.append(.outputs(first: chunk.firstIndex + results.offset, count: results.count, bytes: results.outputs, failed: failed))
        chunk.answered += results.count
        worker.itemsDone += results.count
        worker.itemsOut -= results.count
        counters.running.subtract(results.count, ordering: .relaxed)
        counters.finished(results.count, failures: failed.count)
        chunk.call.deliver(events)
    }

    private func chunkEnded(_ chunk: PoolChunk, on worker: Worker, cancelled: Bool) {
        worker.tasks.removeFirst()
        if chunk.answered < chunk.count {
            let unanswered = chunk.count - chunk.answered
            let reason = cancelled ? PoolError.Code.cancelled : .workerDied
            let error = PoolError(reason, function: function, index: nil, worker: worker.process.name, workerPID: worker.process.pid,
                                  attempts: chunk.attempts, message: cancelled ? "cancelled before it started" : "the worker ended the task without answering it")
            counters.running.subtract(unanswered, ordering: .relaxed)
            worker.itemsOut -= unanswered
            failAll(chunk, from: chunk.answered, error)
        }
        let now = NIODeadline.now()
        recentTaskNanoseconds = (recentTaskNanoseconds * 7 + (now - worker.headSince).nanoseconds) / 8
        worker.headSince = now
        armDeadline(worker)
        if let limit = options.maxTasksPerChild, worker.itemsDone >= limit, worker.tasks.isEmpty {
            retire(worker)
            if phase == .running { startWorker() }
        } else if worker.tasks.isEmpty {
            becameReady(worker)
        }
        dispatch()
    }

    private func initializerAnswered(_ worker: Worker, failure: RemoteError?) {
        guard let failure else {
            consecutiveInitializerFailures = 0
            becameReady(worker)
            workerBecameReady()
            dispatch()
            return
        }
        let error = PoolError(.initializerFailed, function: options.initializer?.name ?? function, index: nil,
                              worker: worker.process.name, workerPID: worker.process.pid, remote: failure,
                              message: "the initializer threw \(failure)")
        worker.endReason = .retired
        worker.state = .leaving
        worker.process.closeMailbox()
        consecutiveInitializerFailures += 1
        if readyWaiter != nil {
            startFailed(error)
        } else if consecutiveInitializerFailures >= 3 {
            breakPool(error)
        } else if phase == .running {
            startWorker()
        }
    }

    /// `worker` holds no task: it takes the next, or leaves if the pool is closing and nothing waits.
    private func becameReady(_ worker: Worker) {
        worker.state = .ready
        if phase == .closing, queue.isEmpty { retire(worker) }
    }

    private func retire(_ worker: Worker) {
        worker.state = .leaving
        worker.endReason = worker.endReason ?? .retired
        worker.process.closeMailbox()   // its mailbox ends: it exits 0
    }

    private func retireIdleWorkers() {
        for worker in workers.values where worker.tasks.isEmpty {
            if case .ready = worker.state { retire(worker) }
        }
    }

    // MARK: workers that end

    /// Worker `id` ended (its channel read to the end, its exit collected).
    func workerGone(_ id: UInt64) {
        guard let worker = workers.removeValue(forKey: id) else { return }
        let wasAdopted = adopted.remove(id) != nil
        worker.deadline?.cancel()
        let status = worker.process.status ?? .unknown
        if case .mailbox = transport, !worker.tasks.isEmpty, worker.endReason != .terminated {
            // Its requests report one by one (see `dying`).
            worker.goneStatus = status
            dying[id] = worker
        } else if let running = worker.tasks.first {
            lost(running, on: worker, status: status)
            // The tasks sent ahead never started: they run elsewhere as they are.
            let waiting = Array(worker.tasks.dropFirst())
            for chunk in waiting {
                chunk.attempts -= 1
                counters.running.subtract(chunk.count - chunk.answered, ordering: .relaxed)
            }
            // Reported as run again although they should not have started: what a worker did
            // in its last moment is not known for certain, and `rerun` promises an upper bound.
            if worker.endReason != .terminated {
                counters.rerun.add(waiting.reduce(0) { $0 + $1.count - $1.answered }, ordering: .relaxed)
            }
            if worker.endReason == .terminated {
                let error = PoolError(.terminated, function: function, index: nil, message: "the pool was terminated before it ran")
                for chunk in waiting { failAll(chunk, from: chunk.answered, error) }
            } else {
                queue.prepend(waiting)
            }
        } else if case .initializing = worker.state, readyWaiter != nil {
            startFailed(PoolError(.workerDied, function: function, index: nil, worker: worker.process.name, workerPID: worker.process.pid,
                                  status: status, message: "the worker \(status) while it started"))
        }
        if phase == .running, !wasAdopted, worker.endReason != .retired, worker.endReason != .terminated, broken == nil {
            startWorker()
        }
        dispatch()
        finishIfDone()
    }

    private func lost(_ chunk: PoolChunk, on worker: Worker, status: TerminationStatus) {
        let unanswered = chunk.count - chunk.answered
        counters.running.subtract(unanswered, ordering: .relaxed)
        guard unanswered > 0 else { return }
        let name = worker.process.name, pid = worker.process.pid
        func index(_ offset: Int) -> Int? { chunk.indexed ? chunk.firstIndex + offset : nil }
        switch worker.endReason {
        case .terminated:
            failAll(chunk, from: chunk.answered, PoolError(.terminated, function: function, index: nil, worker: name, workerPID: pid,
                                                           attempts: chunk.attempts, message: "the pool was terminated"))
        case .cancelled:
            failAll(chunk, from: chunk.answered, PoolError(.cancelled, function: function, index: nil, worker: name, workerPID: pid,
                                                           attempts: chunk.attempts, message: "cancelled; its worker was replaced"))
        case .timedOut:
            // The input that ran past the deadline is the first unanswered one; the others did not start.
            let timeout = options.taskTimeout.map { "\($0)" } ?? "its deadline"
            fail(chunk, offset: chunk.answered, PoolError(.timedOut, function: function, index: index(chunk.answered), worker: name,
                                                          workerPID: pid, attempts: chunk.attempts,
                                                          message: "it ran past the task timeout (\(timeout)); its worker was killed"))
            chunk.answered += 1
            if chunk.answered < chunk.count { queue.prepend(chunk.unansweredInputs()) }
        case .retired, nil:
            if chunk.count > 1 {
                // Input by input, so that a poisonous one is named exactly.
                let singles = chunk.unansweredInputs()
                counters.rerun.add(singles.count, ordering: .relaxed)
                queue.prepend(singles)
            } else if chunk.attempts <= options.retries {
                counters.rerun.add(1, ordering: .relaxed)
                queue.prepend([chunk])
            } else {
                fail(chunk, offset: 0, PoolError(.workerDied, function: function, index: index(0), worker: name, workerPID: pid,
                                                 status: status, attempts: chunk.attempts, message: "the worker \(status) while running it"))
            }
        }
    }

    // MARK: failing

    private func fail(_ chunk: PoolChunk, offset: Int, _ error: PoolError) {
        counters.finished(1, failures: 1)
        chunk.call.deliver([.failure(error)])
    }

    /// Fails every input of `chunk` from `offset` on with `error` (indexed per input).
    private func failAll(_ chunk: PoolChunk, from offset: Int, _ error: PoolError) {
        guard offset < chunk.count else { return }
        var events: [PoolCall.Event] = []
        for input in offset..<chunk.count {
            events.append(.failure(PoolError(error.code, function: error.function, index: chunk.indexed ? chunk.firstIndex + input : nil,
                                             worker: error.worker, workerPID: error.workerPID, status: error.status,
                                             remote: error.remote, attempts: error.attempts, message: error.message)))
        }
        counters.finished(events.count, failures: events.count)
        chunk.call.deliver(events)
    }

    private func dropCancelled(_ chunk: PoolChunk) {
        counters.finished(chunk.count - chunk.answered, failures: chunk.count - chunk.answered)
    }

    private func breakPool(_ error: PoolError) {
        broken = error
        while let chunk = queue.popFirst() { failAll(chunk, from: chunk.answered, error) }
    }

    // MARK: cancel, close, terminate, join

    /// The caller of `call` stopped waiting: its queued inputs never start, its running ones
    /// are told to stop (or their workers replaced, with `replaceWorkerOnCancel`).
    func cancel(_ call: PoolCall) {
        for chunk in queue.removeAll(where: { $0.call === call }) { dropCancelled(chunk) }
        for worker in workers.values {
            for (position, chunk) in worker.tasks.enumerated() where chunk.call === call {
                if position == 0, options.replaceWorkerOnCancel {
                    worker.endReason = .cancelled
                    worker.process.kill()
                } else if case .mailbox = transport {
                    // A worker type cannot be told: its reply is dropped (the call is abandoned).
                    continue
                } else if let host = service?.host {
                    // A task sent ahead is cancelled before it starts (the worker remembers the id).
                    var frame = ByteBufferAllocator().buffer(capacity: 32)
                    PoolWire.appendCancel(to: &frame, id: chunk.taskID, worker: worker.process.id)
                    host.write(frame, to: worker.process.id)
                }
            }
        }
    }

    /// Python's `close()`: no new work; each worker leaves once the queue is empty.
    func close() {
        guard phase == .running else { return }
        phase = .closing
        if queue.isEmpty { retireIdleWorkers() }
        finishIfDone()
    }

    /// Python's `terminate()`: queued and running inputs fail with `terminated`, every worker
    /// is killed, none replaced.
    func terminate() {
        guard phase != .terminated else { return }
        phase = .terminated
        let error = PoolError(.terminated, function: function, index: nil, message: "the pool was terminated before it ran")
        while let chunk = queue.popFirst() { failAll(chunk, from: chunk.answered, error) }
        for worker in workers.values {
            worker.endReason = .terminated
            worker.process.kill()
        }
        startFailed(PoolError(.terminated, function: function, index: nil, message: "the pool was terminated while it started"))
        finishIfDone()
    }

    /// Returns once every worker ended after ``close()`` or ``terminate()`` (closing first if
    /// neither was called, so a join never waits forever).
    func join() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                if phase == .running { close() }
                joinWaiters.append(continuation)
                finishIfDone()
            }
        }
    }

    private func finishIfDone() {
        guard phase != .running, workers.isEmpty, dying.isEmpty, starting == 0 else { return }
        let waiters = joinWaiters
        joinWaiters = []
        for waiter in waiters { waiter.resume() }
        service?.remove(self)
    }

    /// The live workers' processes.
    var processes: [ChildProcess] { workers.values.map(\.process).filter(\.isAlive) }
}
