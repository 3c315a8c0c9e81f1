import MessagePack
import NIOCore
import Synchronization

/// A pool of worker processes that run one registered function over many inputs: Python's
/// `multiprocessing.Pool` and `concurrent.futures.ProcessPoolExecutor` in one type.
///
/// Each worker is a child process that runs many tasks (the function is called by name inside
/// the living worker). A worker that dies (SIGKILL, out of memory, a trap) fails only its own
/// task, with an error naming the input, the worker and its exit status, and is replaced: the
/// pool never hangs. Inputs travel in chunks (one frame for many inputs); a chunk whose worker
/// died runs again input by input, so one poisonous input is named exactly.
///
/// ```swift
/// let square = ProcessFunction("square") { (x: Int) in x * x }
/// try await Multiprocessing.bootstrap(functions: [square])
///
/// let squares = try await ProcessPool(square, workers: 4).map(Array(0..<1000))
/// try await withProcessPool(square, workers: 2) { pool in
///     for try await y in pool.imapUnordered(0..<100) { print(y) }
///     print(try await pool.apply(12))   // 144
/// }
/// ```
///
/// A function of several arguments makes a pool of ``ProcessArguments``:
/// `try await ProcessPool(add).starmap([(1, 2), (3, 4)])` is `[3, 7]`. A ``Worker`` type makes
/// a pool whose inputs are requests to the workers' mailboxes and whose results are their
/// replies: `ProcessPool<Int, Int>(worker: Doubler.self)`.
public final class ProcessPool<Input: Codable & Sendable, Output: Sendable>: Sendable {
    let scheduler: PoolScheduler
    /// The outputs of the answered, non-failed slots of a results array, in order.
    let decodeOutputs: @Sendable (ByteBuffer, _ count: Int, _ failed: [Int]) throws -> [Output]
    private let callIDs = PoolCallIDs()
    /// How awaiters of single answers spin before they sleep.
    private let spin = SpinGate()

    /// A pool of `requested` workers (or the options', or one per CPU) running the function
    /// registered as `name` in `host`'s runtime. The public initializers
    /// (Runtime/ProcessPool+Runtime.swift) find the runtime.
    init(name: String, transport: PoolScheduler.Transport = .functions, workers requested: Int?, options: PoolOptions, host: PoolHost,
         decodeOutputs: @escaping @Sendable (ByteBuffer, Int, [Int]) throws -> [Output]) async throws {
        switch transport {
        case .functions:
            guard host.functions.lookup(name) != nil else {
                throw ProcessError(.unknownEntry, "cannot make a pool of \"\(name)\": it is not registered in this process; pass it to Multiprocessing.bootstrap")
            }
        case .mailbox(let entry):
            guard host.entries.lookup(entry) != nil else {
                throw ProcessError(.unknownEntry, "cannot make a pool of the worker \"\(entry)\": it is not registered in this process; pass it to Multiprocessing.bootstrap(workers:)")
            }
            guard options.initializer == nil else {
                throw PoolError(.invalidArgument, function: name, index: nil,
                                message: "a pool of a worker type takes no initializer: its run(_:) sets itself up before it reads its mailbox")
            }
        }
        let count = requested ?? options.workers ?? Multiprocessing.cpuCount
        guard count >= 1 else {
            throw PoolError(.invalidArgument, function: name, index: nil, message: "a pool needs at least one worker (asked for \(count))")
        }
        guard options.retries >= 0, (options.maxTasksPerChild ?? 1) >= 1 else {
            throw PoolError(.invalidArgument, function: name, index: nil,
                            message: "retries must be 0 or more and maxTasksPerChild 1 or more (got \(options.retries), \(options.maxTasksPerChild ?? 1))")
        }
        let supervisor = try host.supervisor()
        let service = host.service
        scheduler = PoolScheduler(function: name, transport: transport, options: options, workerCount: count, launcher: supervisor,
                                  service: service, loop: supervisor.loop)
        self.decodeOutputs = decodeOutputs
        let scheduler = self.scheduler
        try await supervisor.loop.submit { service.add(scheduler) }.get()
        do {
            try await scheduler.start()
        } catch {
            scheduler.loop.execute { scheduler.terminate() }
            await scheduler.join()
            throw error
        }
    }

    deinit {
        // Python's Pool.__del__: a pool nobody holds stops its workers.
        let scheduler = self.scheduler
        scheduler.loop.execute { scheduler.terminate() }
    }

    static func codableOutputs(_ bytes: ByteBuffer, count: Int, failed: [Int]) throws -> [Output] where Output: Codable {
        try bytes.withUnsafeReadableBytes { raw in
            if failed.isEmpty {
                if let scalars = ScalarItems.decodeOutputs(raw, as: Output.self) { return scalars }
                return try MessagePackDecoder().decode([Output].self, from: raw)
            }
            // A failed input's slot is nil: read the others one by one.
            var reader = MessagePackReader(raw)
            let elements = try reader.readArrayHeader()
            guard elements == count else {
                throw PoolError(.invalidArgument, function: "", index: nil, message: "a results frame announced \(count) outputs and carried \(elements)")
            }
            let decoder = MessagePackDecoder()
            var outputs: [Output] = []
            for offset in 0..<elements {
                let element = try reader.readRawValue()
                if failed.contains(offset) { continue }
                outputs.append(try decoder.decode(Output.self, from: element))
            }
            return outputs
        }
    }

    // MARK: what it is doing

    /// How many worker processes it keeps.
    public var workerCount: Int { scheduler.workerCount }
    /// Where its work stands (a snapshot; cheap, from any thread).
    public var progress: PoolProgress { scheduler.counters.snapshot }
    /// The live worker processes.
    public var workers: [ChildProcess] {
        get async { (try? await scheduler.loop.submit { [scheduler] in scheduler.processes }.get()) ?? [] }
    }

    // MARK: map

    /// The function applied to every input, the results in input order: Python's `Pool.map`.
    /// The inputs travel in chunks of `chunkSize` (default: Python's, the count divided by
    /// four times the workers, rounded up; 1 with a `taskTimeout`). Throws ``PoolMapError``
    /// naming every input that failed once all inputs ran; cancelling the calling task stops
    /// the inputs not yet started and throws `CancellationError`.
    public func map(_ inputs: some Sequence<Input>, chunkSize: Int? = nil) async throws -> [Output] {
        let items = Array(inputs)
        guard !items.isEmpty else { return [] }
        let size = try resolvedChunkSize(chunkSize, count: items.count)
        let call = PoolCall(id: callIDs.next())
        var chunks: [PoolChunk] = []
        chunks.reserveCapacity(items.count / size + 1)
        let encoder = MessagePackEncoder()
        var start = 0
        while start < items.count {
            let end = min(start + size, items.count)
            let arguments = try ScalarItems.encodeInputs(items[start..<end]) ?? encoder.encode(Array(items[start..<end]))
            chunks.append(PoolChunk(call: call, firstIndex: start, count: end - start, arguments: arguments))
            start = end
        }
        submit(chunks, items: items.count)
        // The outputs arrive as runs of consecutive inputs (a frame's worth), in any order
        // between chunks: kept as runs and joined once at the end (no optional per result).
        var runs: [(first: Int, outputs: [Output])] = []
        var failures: [PoolError] = []
        var answered = 0
        try await withTaskCancellationHandler {
            while answered < items.count {
                let events = await call.take()
                try Task.checkCancellation()
                for event in events {
                    switch event {
                    case .outputs(let first, let count, let bytes, let failed):
                        do {
                            let outputs = try decodeOutputs(bytes, count, failed)
                            if failed.isEmpty {
                                runs.append((first, outputs))
                            } else {
                                var next = 0
                                for offset in 0..<count where !failed.contains(offset) {
                                    runs.append((first + offset, [outputs[next]]))
                                    next += 1
                                }
                            }
                            answered += count - failed.count
                        } catch {
                            for offset in 0..<count where !failed.contains(offset) {
                                failures.append(badResult(index: first + offset, error))
                            }
                            answered += count - failed.count
                        }
                    case .failure(let error):
                        failures.append(error)
                        answered += 1
                    }
                }
            }
        } onCancel: {
            cancel(call)
        }
        guard failures.isEmpty else {
            throw PoolMapError(failures: failures.sorted { ($0.index ?? 0) < ($1.index ?? 0) }, total: items.count)
        }
        runs.sort { $0.first < $1.first }
        var results: [Output] = []
        results.reserveCapacity(items.count)
        for run in runs { results.append(contentsOf: run.outputs) }
        return results
    }

    /// ``map(_:chunkSize:)`` of a function of two arguments over tuples: Python's `starmap`.
    public func starmap<A, B>(_ inputs: some Sequence<(A, B)>, chunkSize: Int? = nil) async throws -> [Output]
        where Input == ProcessArguments<A, B> {
        try await map(inputs.map { ProcessArguments($0.0, $0.1) }, chunkSize: chunkSize)
    }

    /// ``map(_:chunkSize:)`` of a function of three arguments over tuples.
    public func starmap<A, B, C>(_ inputs: some Sequence<(A, B, C)>, chunkSize: Int? = nil) async throws -> [Output]
        where Input == ProcessArguments<A, B, C> {
        try await map(inputs.map { ProcessArguments($0.0, $0.1, $0.2) }, chunkSize: chunkSize)
    }

    // MARK: imap

    /// The results as they come, in input order: Python's `imap`. The inputs are read
    /// lazily, a bounded number ahead of what the loop consumed, so an input of any length
    /// never fills memory. Iteration throws the first failed input's ``PoolError`` at its
    /// position; leaving the loop early stops the inputs not yet started.
    public func imap<S: Sequence & Sendable>(_ inputs: S, chunkSize: Int = 1) -> PoolResults<Output> where S.Element == Input {
        results(PoolInputs(inputs), chunkSize: chunkSize, ordered: true)
    }

    /// ``imap(_:chunkSize:)-(Sequence,_)`` over an `AsyncSequence` of inputs.
    public func imap<S: AsyncSequence & Sendable>(_ inputs: S, chunkSize: Int = 1) -> PoolResults<Output> where S.Element == Input {
        results(PoolInputs(inputs), chunkSize: chunkSize, ordered: true)
    }

    /// The results in the order they finish: Python's `imap_unordered`.
    public func imapUnordered<S: Sequence & Sendable>(_ inputs: S, chunkSize: Int = 1) -> PoolResults<Output> where S.Element == Input {
        results(PoolInputs(inputs), chunkSize: chunkSize, ordered: false)
    }

    /// ``imapUnordered(_:chunkSize:)-(Sequence,_)`` over an `AsyncSequence` of inputs.
    public func imapUnordered<S: AsyncSequence & Sendable>(_ inputs: S, chunkSize: Int = 1) -> PoolResults<Output> where S.Element == Input {
        results(PoolInputs(inputs), chunkSize: chunkSize, ordered: false)
    }

    private func results(_ inputs: PoolInputs<Input>, chunkSize: Int, ordered: Bool) -> PoolResults<Output> {
        let chunkSize = scheduler.runsOneInputPerTask ? 1 : chunkSize
        return PoolResults(pool: PoolResultsSource(
            scheduler: scheduler, callIDs: callIDs, inputs: inputs, chunkSize: chunkSize, ordered: ordered,
            lookahead: max(4 * scheduler.workerCount * max(chunkSize, 1), 8 * scheduler.workerCount), decodeOutputs: decodeOutputs))
    }

    // MARK: one input

    /// Runs the function on one input; the handle's ``PoolTask/value`` is its result: Python's
    /// `apply_async` / `ProcessPoolExecutor.submit`.
    public func submit(_ input: Input) throws -> PoolTask<Output> {
        let call = PoolCall(id: callIDs.next(), spin: spin)
        let arguments = try MessagePackEncoder().encode([input])
        submit([PoolChunk(call: call, firstIndex: 0, indexed: false, count: 1, arguments: arguments)], items: 1)
        return PoolTask(call: call, scheduler: scheduler, decodeOutputs: decodeOutputs)
    }

    /// Runs the function on one input and returns its result: Python's `apply`. Cancelling
    /// the calling task cancels the input.
    public func apply(_ input: Input) async throws -> Output {
        try await submit(input).value
    }

    /// Adds `worker`, started elsewhere, to this pool's workers: a remote worker that joined a
    /// `WorkerServer`, so that one pool spans hosts. It must run the pool worker entry
    /// (`RemoteWorkerLauncher.Program.poolWorker`; for a pool of a ``Worker`` type, that type)
    /// in a program that registers this pool's function. It takes tasks at once; when it ends,
    /// its task runs again on another worker (up to the retries) or fails as a dead worker's,
    /// and it is not replaced. Throws ``PoolError/Code/closed`` for a closed pool,
    /// ``PoolError/Code/invalidArgument`` for a worker that runs another entry, has ended or
    /// is the pool's already.
    ///
    /// ```swift
    /// let pool = try await ProcessPool(square, workers: 2)
    /// try await pool.adopt(try await server.nextWorker())   // a third, on another host
    /// let squares = try await pool.map(Array(0..<1000))
    /// ```
    public func adopt(_ worker: ChildProcess) async throws {
        let scheduler = self.scheduler
        try await scheduler.loop.submit { try scheduler.adopt(worker) }.get()
    }

    // MARK: lifecycle

    /// Python's `close()`: the pool takes no new work (a later call fails with
    /// ``PoolError/Code/closed``); each worker exits once the work queued before is done.
    public func close() {
        let scheduler = self.scheduler
        scheduler.loop.execute { scheduler.close() }
    }

    /// Python's `terminate()`: every worker is killed now; queued and running inputs fail
    /// with ``PoolError/Code/terminated``. Returns once every worker ended.
    public func terminate() async {
        let scheduler = self.scheduler
        scheduler.loop.execute { scheduler.terminate() }
        await scheduler.join()
    }

    /// Python's `join()`: returns once every worker ended after ``close()`` or
    /// ``terminate()`` (a pool still running is closed first, so a join never waits forever).
    public func join() async {
        await scheduler.join()
    }

    // MARK: plumbing

    func submit(_ chunks: [PoolChunk], items: Int) {
        scheduler.counters.submitted(items)
        let scheduler = self.scheduler
        scheduler.loop.execute { scheduler.submit(chunks) }
    }

    func cancel(_ call: PoolCall) {
        call.abandon()
        let scheduler = self.scheduler
        scheduler.loop.execute { scheduler.cancel(call) }
    }

    private func resolvedChunkSize(_ requested: Int?, count: Int) throws -> Int {
        if let requested {
            guard requested >= 1 else {
                throw PoolError(.invalidArgument, function: scheduler.function, index: nil, message: "a chunk size must be 1 or more (got \(requested))")
            }
            return scheduler.runsOneInputPerTask ? 1 : requested
        }
        if scheduler.options.taskTimeout != nil || scheduler.runsOneInputPerTask { return 1 }
        // Python's default: divmod(len, 4 * workers), rounded up.
        let (size, extra) = count.quotientAndRemainder(dividingBy: 4 * scheduler.workerCount)
        return max(1, size + (extra > 0 ? 1 : 0))
    }

    private func badResult(index: Int?, _ error: any Error) -> PoolError {
        PoolError(.badResult, function: scheduler.function, index: index,
                  message: "its result did not decode as \(Output.self): \(error)")
    }
}

/// What a pool takes from its runtime: the pool service of its supervisor, the supervisor
/// (started on demand), and the functions bootstrap registered.
struct PoolHost {
    let service: PoolService
    let supervisor: () throws -> SupervisorCore
    let functions: PoolFunctions
    /// The entries (a pool of a worker type starts its type's entry).
    let entries: EntryRegistry
}

/// Call numbers of one pool.
final class PoolCallIDs: Sendable {
    private let counter = Atomic<UInt64>(0)
    func next() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }
}
