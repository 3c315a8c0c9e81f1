import MessagePack
import Synchronization

/// The child side of a pool worker: the built-in entry ``PoolWire/workerEntry``. It takes
/// tasks and initializers from its mailbox in order, runs one at a time, answers each with
/// results frames, and exits 0 when the channel ends (PROTOCOL.md, "Pool").
///
/// A task's items run inside one unstructured `Task` on the child's run loop, which a
/// `cancel` frame cancels: a function that checks `Task.isCancelled` sees it, and no item
/// starts after it. Cancels are handled on the run loop as they are read, not queued behind
/// tasks in the mailbox.
final class PoolWorker: Sendable {
    private let functions: PoolFunctions

    private struct State {
        /// The task running now.
        var running: (id: UInt64, task: Task<Void, Never>)?
        /// Tasks cancelled while still in the mailbox: each is answered "cancelled" when reached.
        var cancelledEarly: Set<UInt64> = []
    }
    private let state = Mutex(State())
    /// Cancels of tasks never reached are forgotten past this many (a cancel that crossed its
    /// task's final frame is for a task that is gone).
    private static let cancelledEarlyLimit = 64

    private init(functions: PoolFunctions) {
        self.functions = functions
    }

    /// The entry, running tasks with the functions of `functions`. A process runs one entry
    /// once, so the worker's state lives with the definition; its cancel handler is in place
    /// before the run loop reads past the welcome.
    static func definition(functions: PoolFunctions) -> EntryDefinition {
        let worker = PoolWorker(functions: functions)
        return EntryDefinition(name: PoolWire.workerEntry, prepare: { session in
            let cancelKind = UInt8(PoolWire.cancel.rawValue)
            session.handle(kinds: cancelKind...cancelKind) { body in worker.cancel(body.envelope.correlation) }
        }, run: { session in
            await worker.run(session)
        })
    }

    private func run(_ session: ChildSession) async -> Int32 {
        guard let loop = session.runLoop else { return ChildExitCode.channelClosed }
        while true {
            let frame: FrameBody?
            do {
                frame = try await loop.nextMailboxFrame()
            } catch {
                session.log("the channel to the supervisor broke: \(error)")
                return ChildExitCode.protocolError
            }
            guard let frame else { return 0 }
            switch frame.envelope.kind {
            case PoolWire.task, PoolWire.initialize:
                await runTask(frame, session: session, on: loop)
            default:
                session.log("a pool worker takes tasks (48) and initializers (51), not \(frame.envelope.kind): ignored")
            }
        }
    }

    /// On the run loop, as the frame is read.
    private func cancel(_ id: UInt64) {
        state.withLock { state in
            if let running = state.running, running.id == id {
                running.task.cancel()
            } else {
                if state.cancelledEarly.count >= Self.cancelledEarlyLimit { state.cancelledEarly.removeAll() }
                state.cancelledEarly.insert(id)
            }
        }
    }

    private func runTask(_ frame: FrameBody, session: ChildSession, on loop: ChildRunLoop) async {
        let id = frame.envelope.correlation
        let call: (function: String, arguments: [UInt8], count: Int)
        do {
            call = try frame.withPayloadBytes(Self.parseCall)
        } catch {
            // Built by the supervisor, so a broken one is a bug: answered, never fatal.
            let reporter = TaskReporter(session: session, id: id)
            reporter.failAll(count: 1, error: error)
            return
        }
        if state.withLock({ $0.cancelledEarly.remove(id) }) != nil {
            TaskReporter(session: session, id: id).send(encodedOutputs: [0x90], count: 0, failures: [], state: .cancelled)
            return
        }
        guard let function = functions.lookup(call.function) else {
            let known = functions.names.map { "\"\($0)\"" }.joined(separator: ", ")
            let error = ProcessError(.unknownEntry, "no pool function \"\(call.function)\" is registered in this worker "
                                     + "(it registers \(known.isEmpty ? "none" : known)): pass it to Multiprocessing.bootstrap")
            TaskReporter(session: session, id: id).failAll(count: call.count, error: error)
            return
        }
        let arguments = call.arguments
        // A task of a few inputs runs on the run loop (no thread hop: a submit's round trip).
        // A larger one runs on Swift's pool: with an executor preference, every call of the
        // function (a nonisolated async closure) takes the task's status-record lock to find
        // where to run, about half a trivial input's cost; the one wake-up of a pool thread
        // is nothing against a chunk. The run loop goes on reading meanwhile, so a cancel
        // reaches the task at once.
        let run: @Sendable () async -> Void = { await function.run(arguments, TaskReporter(session: session, id: id)) }
        let task = call.count <= Self.itemsRunOnTheLoop ? Task(executorPreference: loop, operation: run) : Task(operation: run)
        state.withLock { $0.running = (id, task) }
        await task.value
        state.withLock { $0.running = nil }
    }

    /// Tasks of at most this many inputs run on the run loop's thread.
    static let itemsRunOnTheLoop = 4

    /// `[function: str, arguments: array]`: the name, the arguments array's bytes and its item count.
    private static func parseCall(_ payload: UnsafeRawBufferPointer) throws -> (function: String, arguments: [UInt8], count: Int) {
        var reader = MessagePackReader(payload)
        guard try reader.readArrayHeader() == 2 else {
            throw ProcessError(.invalidArgument, "a pool task's payload must be [function, arguments]")
        }
        let function = try reader.readString()
        let start = reader.offset
        var header = reader
        let count = try header.readArrayHeader()
        try reader.skipValue()   // checks the whole arguments array is there
        let arguments = Array(UnsafeRawBufferPointer(rebasing: payload[start..<reader.offset]))
        return (function, arguments, count)
    }
}

/// Sends the results frames of one task: keeps the offset of the next item to report and the
/// time of the last frame (a partial frame is due ``partialInterval`` after it), and after
/// each partial frame reads what arrived on the channel, so a cancel is seen while a function
/// that never suspends runs.
final class TaskReporter {
    /// A worker killed mid-chunk loses at most about this much of its answers.
    static let partialInterval = Duration.milliseconds(1)

    private let session: ChildSession
    private let id: UInt64
    /// What the function's body gets.
    let context: WorkerContext
    /// The task-relative offset of the next item to report.
    private var offset = 0
    private var lastFrame = ContinuousClock.now
    /// A frame could not be written (the channel closed): nothing more is sent.
    private var broken = false

    init(session: ChildSession, id: UInt64) {
        self.session = session
        self.id = id
        context = WorkerContext(session: session)
    }

    /// How often the clock is read while items run: a partial frame is at most about this late.
    static let clockInterval = Duration.microseconds(20)
    /// Items to finish before the next clock read (1 for items slower than ``clockInterval``).
    private var itemsPerCheck = 1
    private var itemsUntilCheck = 1
    private var lastCheck = ContinuousClock.now

    /// Called after each item: whether ``partialInterval`` passed since the last frame (or the
    /// task's start). Reading the clock after every item of a trivial function costs a tenth of
    /// the item, so the clock is read about every ``clockInterval``, the items between two
    /// reads counted from how long the last ones took.
    func itemFinished() -> Bool {
        itemsUntilCheck -= 1
        clockWasRead = itemsUntilCheck <= 0
        guard clockWasRead else { return false }
        let now = ContinuousClock.now
        let perItem = (now - lastCheck) / itemsPerCheck
        itemsPerCheck = perItem >= Self.clockInterval ? 1 : Int(min(Self.clockInterval / max(perItem, .nanoseconds(1)), 1024))
        itemsUntilCheck = itemsPerCheck
        lastCheck = now
        return now - lastFrame >= Self.partialInterval
    }

    /// Whether the last ``itemFinished()`` read the clock: the cadence (every item when items
    /// are slow, about every ``clockInterval`` when they are fast) at which the runner also
    /// looks for a cancel, a runtime call that costs a twentieth of a trivial item.
    private(set) var clockWasRead = true

    /// Sends the next `count` items' answers: `encodedOutputs` is their msgpack array,
    /// `failures` (task-relative offsets) the failed ones among them. A frame above the
    /// maximum size is split; an output too large for any frame fails alone.
    func send(encodedOutputs: [UInt8], count: Int, failures: [(offset: Int, error: RemoteError)], state: PoolWire.State) {
        var frame: [UInt8] = []
        encodedOutputs.withUnsafeBytes {
            PoolWire.appendResults(to: &frame, id: id, worker: session.id, offset: offset, encodedOutputs: $0,
                                   failures: failures, state: state)
        }
        if frame.count - 4 <= session.maxFrameSize {
            write(frame)
        } else {
            sendSplit(encodedOutputs, failures: failures, state: state)
        }
        offset += count
        lastFrame = ContinuousClock.now
        lastCheck = lastFrame
        if state == .partial { session.runLoop?.readArrivedInput() }
    }

    /// Fails the next `count` items with `error` in one final frame (the task's function is
    /// unknown, or its payload broken).
    func failAll(count: Int, error: any Error) {
        var nils: [UInt8] = []
        nils.packArrayHeader(count)
        for _ in 0..<count { nils.packNil() }
        let remote = RemoteError(error)
        send(encodedOutputs: nils, count: count, failures: (0..<count).map { (offset + $0, remote) }, state: .done)
    }

    /// Room kept in a split frame for its envelope, header and failures.
    private static let splitHeadroom = 4096

    /// Sends the outputs in frames each below the maximum size, the last with `state`.
    private func sendSplit(_ encodedOutputs: [UInt8], failures: [(offset: Int, error: RemoteError)], state: PoolWire.State) {
        let limit = max(session.maxFrameSize / 2 - Self.splitHeadroom, 1)
        var pieces: [(start: Int, bytes: [UInt8], count: Int)] = []
        var failures = failures
        encodedOutputs.withUnsafeBytes { raw in
            var reader = MessagePackReader(raw)
            let total = (try? reader.readArrayHeader()) ?? 0
            var piece: [UInt8] = [], pieceCount = 0, pieceStart = offset
            for index in 0..<total {
                guard let value = try? reader.readRawValue() else { break }
                var element = Array(value)
                if element.count > limit {
                    element = [0xc0]
                    let error = ProcessError(.messageTooLarge, "an output of \(value.count) bytes is above the maximum frame of \(session.maxFrameSize) bytes")
                    failures.append((offset + index, RemoteError(error)))
                }
                if !piece.isEmpty, piece.count + element.count > limit {
                    pieces.append((pieceStart, piece, pieceCount))
                    piece = []
                    pieceCount = 0
                    pieceStart = offset + index
                }
                piece += element
                pieceCount += 1
            }
            pieces.append((pieceStart, piece, pieceCount))
        }
        for (number, piece) in pieces.enumerated() {
            var outputs: [UInt8] = []
            outputs.packArrayHeader(piece.count)
            outputs += piece.bytes
            let own = failures.filter { $0.offset >= piece.start && $0.offset < piece.start + piece.count }.sorted { $0.offset < $1.offset }
            var frame: [UInt8] = []
            outputs.withUnsafeBytes {
                PoolWire.appendResults(to: &frame, id: id, worker: session.id, offset: piece.start, encodedOutputs: $0,
                                       failures: own, state: number == pieces.count - 1 ? state : .partial)
            }
            write(frame)
        }
    }

    private func write(_ frame: [UInt8]) {
        guard !broken else { return }
        do {
            // Written at once, never queued for a later write: the supervisor takes the task
            // it has no final answer for as the one running when the worker dies, so a final
            // answer must be in the pipe before the next task starts (a pipe's bytes outlive
            // the writer; a queued write does not).
            try frame.withUnsafeBytes { try session.sendFrame($0) }
        } catch {
            broken = true
            session.log("a pool task's results could not be sent: \(error)")
        }
    }
}
