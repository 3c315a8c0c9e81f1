import FoundationEssentials
import MessagePack
import Synchronization

/// A child's end of its channel to the supervisor: frames in on fd 3, frames out on fd 4.
///
/// Reads block (the handshake and a function's argument are read on the calling thread; a
/// worker's mailbox is filled by a reader thread of its own, never by Swift's cooperative
/// pool). Writes are serialized by a lock and go out as one `write` per call.
public final class ChildSession: @unchecked Sendable {
    /// A function's argument travels as a request with this correlation id.
    static let argumentCorrelation: UInt64 = 1

    /// The end of the channel, reached while a frame was expected.
    struct Closed: Error {}

    let input: FileDescriptor
    let output: FileDescriptor
    /// This worker's id, from the supervisor's welcome.
    public private(set) var id: UInt64 = 0
    /// The entry this child runs.
    public let entry: String
    /// The name the parent gave this child.
    public let name: String
    /// The supervisor agreed to flow control in its welcome: the mailbox asks it to pause
    /// instead of this child stopping to read (ChildRunLoop), and ``sendGate`` follows its pauses.
    private(set) var speaksFlowControl = false
    /// Closed while the supervisor asked this child to hold new requests and messages.
    let sendGate = SendGate()
    private var reader: FrameReader
    private let writeLock = Mutex<Void>(())
    let maxFrameSize: Int
    /// What the hello announces besides flow control (the clients of services: queues).
    let capabilities: [String]

    init(input: FileDescriptor, output: FileDescriptor, entry: String, name: String, capabilities: [String] = [],
         maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) {
        self.input = input
        self.output = output
        self.entry = entry
        self.name = name
        self.capabilities = capabilities
        self.maxFrameSize = maxFrameSize
        self.reader = FrameReader(maxFrameSize: maxFrameSize)
    }

    // MARK: frames of services' kinds

    /// Handlers of frames whose kind a service owns (32...127; PROTOCOL.md, "Kind ranges"),
    /// by kind: the notices a service's client gets (a queue closed, a throttle). Set before
    /// the entry runs, read by the run loop.
    private let serviceHandlers = Mutex<[(@Sendable (FrameBody) -> Void)?]>(Array(repeating: nil, count: 128))

    /// Frames of `kinds` go to `handler` (on the run loop's thread) instead of the mailbox.
    func handle(kinds: ClosedRange<UInt8>, with handler: @escaping @Sendable (FrameBody) -> Void) {
        serviceHandlers.withLock { table in for kind in kinds where kind < 128 { table[Int(kind)] = handler } }
    }

    /// The handler of `kind`, if a service's client registered one.
    func serviceHandler(for kind: Envelope.Kind) -> (@Sendable (FrameBody) -> Void)? {
        guard kind.rawValue >= 32, kind.rawValue < 128 else { return nil }
        return serviceHandlers.withLock { $0[Int(kind.rawValue)] }
    }

    /// Says hello and waits for the welcome.
    func handshake() throws {
        try send(FrameBody(Envelope(.hello, from: 0, to: Envelope.supervisor),
                           encoding: Hello(pid: ProcessControl.id, entry: entry, capabilities: [FlowControl.capability] + capabilities)))
        guard let answer = try receive() else { throw Closed() }
        switch answer.envelope.kind {
        case .welcome:
            let welcome = try answer.decodePayload(Welcome.self)
            id = welcome.id
            speaksFlowControl = welcome.capabilities.contains(FlowControl.capability)
        case .error:
            throw try answer.decodePayload(RemoteError.self)
        default:
            throw RemoteError.unknownKind(answer.envelope.kind)
        }
    }

    /// The next frame, blocking; nil when the supervisor closed the channel at a frame boundary.
    func receive() throws -> FrameBody? {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            if let body = try reader.withNextFrame({ try FrameBody(parsing: $0) }) { return body }
            let count = try chunk.withUnsafeMutableBytes { try input.read(into: $0) }
            if count == 0 {
                try reader.finish()   // throws when the channel ended inside a frame
                return nil
            }
            chunk.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }

    /// Sends one frame.
    func send(_ body: FrameBody) throws {
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        try writer.append(body)
        try writeLock.withLock { _ in
            try writer.drain { try writeAfterPending($0) }
        }
    }

    /// Sends one whole frame (length prefix included) after any pending output.
    func sendFrame(_ frame: UnsafeRawBufferPointer) throws {
        try writeLock.withLock { _ in try writeAfterPending(frame) }
    }

    /// Sends `envelope` and `payload` as one frame; one above the maximum is refused with
    /// ``ProcessError/Code/messageTooLarge`` naming the envelope's kind, and nothing is sent.
    /// A `Data` payload of ``directPayloadSize`` bytes or more goes out from the caller's memory
    /// right after the frame's head, never copied into a frame buffer (the pipe takes it as it
    /// is, like Python's `send_bytes`).
    func send<P: Encodable>(_ envelope: Envelope, _ payload: P) throws {
        if P.self == Data.self {
            let data = payload as! Data
            if data.count >= Self.directPayloadSize { return try sendDirect(envelope, data) }
        }
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do {
            try writer.append(envelope, payload: payload)
        } catch {
            throw ProcessError.sizeChecked(error, "\(envelope.kind == .error ? "an" : "a") \(envelope.kind)", limit: maxFrameSize)
        }
        try writeLock.withLock { _ in
            try writer.drain { try writeAfterPending($0) }
        }
    }

    /// From this size on a `Data` payload is written from its own memory (below it, one
    /// `write` of a copied frame is cheaper than two).
    static let directPayloadSize = 64 << 10

    private func sendDirect(_ envelope: Envelope, _ data: Data) throws {
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do {
            try writer.appendHead(envelope, binaryCount: data.count)
        } catch {
            throw ProcessError.sizeChecked(error, "\(envelope.kind == .error ? "an" : "a") \(envelope.kind)", limit: maxFrameSize)
        }
        try writeLock.withLock { _ in
            try writer.drain { try writeAfterPending($0) }
            try data.withUnsafeBytes { try output.writeAll($0) }
        }
    }

    // MARK: coalesced output (queue frames: Sources/Multiprocessing/Queues)

    /// Frames queued by ``sendLater(flushIfFull:_:)``: written before anything else this
    /// session writes, when the run loop is about to wait, or once they pass ``pendingLimit``.
    /// Its frames may be at most ``pendingMaxFrameSize``.
    private let pending = Mutex(FrameWriter(maxFrameSize: ChildSession.pendingMaxFrameSize))
    static let pendingLimit = 64 << 10
    static let pendingMaxFrameSize = MessagePackLimits.defaultMaxFrameSize - 64
    /// Called before pending output is written; returns more frames to write first (the queue
    /// clients' got/done reports). Never called with a client's lock held. Set once.
    var beforeFlush: (@Sendable () -> [UInt8])? {
        get { flushHook.withLock { $0 }?.body }
        set { flushHook.withLock { $0 = newValue.map(FlushHook.init) } }
    }
    /// A class box: a closure kept in a generic container is wrapped in a reabstraction thunk
    /// each time it is read back out, and those wrappers piled up (profiled: a queue's throughput
    /// fell 5x over a few seconds).
    private final class FlushHook: Sendable {
        let body: @Sendable () -> [UInt8]
        init(_ body: @escaping @Sendable () -> [UInt8]) { self.body = body }
    }
    private let flushHook = Mutex<FlushHook?>(nil)

    /// Queues frames (`build` appends them to the writer, encoding straight into it) to go out
    /// with the next write: many small frames, one syscall. Past ``pendingLimit`` they are
    /// written at once, unless `flushIfFull` is false (the caller holds a lock the flush may
    /// need). A frame `build` fails to append is not queued. Returns whether it wrote.
    @discardableResult
    func sendLater(flushIfFull: Bool = true, _ build: (inout FrameWriter) throws -> Void) throws -> Bool {
        let full = try pending.withLock { writer in
            try build(&writer)
            return writer.count >= Self.pendingLimit
        }
        guard full, flushIfFull else { return false }
        try flushPendingOutput()
        return true
    }

    /// Writes every queued frame now (the run loop calls it before it waits).
    func flushPendingOutput() throws {
        try writeLock.withLock { _ in try writeAfterPending(UnsafeRawBufferPointer(start: nil, count: 0)) }
    }

    /// Writes the pending frames, the reports, then `bytes`, in one write (called with
    /// `writeLock` held).
    private func writeAfterPending(_ bytes: UnsafeRawBufferPointer) throws {
        let reports = beforeFlush?() ?? []
        if reports.isEmpty && bytes.count == 0 {
            // Only queued frames: written from the writer's own buffer, no copy.
            try pending.withLock { writer in
                if writer.count > 0 { try writer.drain { [output] in try output.writeAll($0) } }
            }
            return
        }
        var queued = pending.withLock { writer in writer.count == 0 ? [] : writer.take() }
        if queued.isEmpty && reports.isEmpty {
            if bytes.count > 0 { try output.writeAll(bytes) }
            return
        }
        queued.append(contentsOf: reports)
        queued.append(contentsOf: bytes)
        try queued.withUnsafeBytes { try output.writeAll($0) }
    }

    /// Writes a runtime message to standard error, prefixed with this child's name.
    func log(_ message: String) {
        ProcessEnvironment.writeError("[\(name)] \(message)\n")
    }

    // MARK: the run loop's side

    /// The loop that runs the entry's code once the handshake is done.
    var runLoop: ChildRunLoop?

    /// Adds bytes the run loop read from the channel.
    func appendReceived(_ bytes: UnsafeRawBufferPointer) { reader.append(bytes) }

    /// The next whole frame among the bytes read so far.
    func nextBufferedFrame() throws -> FrameBody? {
        try reader.withNextFrame { try FrameBody(parsing: $0) }
    }

    /// Checks that the channel ended at a frame boundary.
    func finishReading() throws { try reader.finish() }

    /// Hands an answer to the request that waits for it.
    func resolveReply(_ body: FrameBody) {
        if let handler = replyHandlers.withLock({ $0.removeValue(forKey: body.envelope.correlation) }) {
            handler(.success(body))
            return
        }
        replyWaiters.withLock { $0.removeValue(forKey: body.envelope.correlation) }?.resume(returning: body)
    }

    /// The channel ended: whoever waits for an answer learns that none will come.
    func channelEnded() {
        sendGate.set(paused: false)   // waiting senders go on, and learn the channel closed
        let closed = ProcessError(.disconnected, "the channel to the supervisor closed")
        let waiting = replyWaiters.withLock { table in
            readerEnded = true
            defer { table.removeAll() }
            return Array(table.values)
        }
        for waiter in waiting { waiter.resume(throwing: closed) }
        let handlers = replyHandlers.withLock { table in defer { table.removeAll() }; return Array(table.values) }
        for handler in handlers { handler(.failure(closed)) }
    }

    /// Answers handled by a callback (on the run loop's thread) instead of an awaiting task:
    /// a queue's get survives its caller's cancellation, so nothing it fetched is lost.
    private let replyHandlers = Mutex<[UInt64: @Sendable (Result<FrameBody, any Error>) -> Void]>([:])

    /// A correlation id for a request of this child.
    func nextCorrelation() -> UInt64 { correlations.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Sends the request frame `frame` (whose correlation is `correlation`) after any pending
    /// output; `handler` gets its answer, or the error that means none will come.
    func sendRequest(_ frame: [UInt8], correlation: UInt64, handler: @escaping @Sendable (Result<FrameBody, any Error>) -> Void) {
        let registered = replyWaiters.withLock { _ -> Bool in
            if readerEnded { return false }
            replyHandlers.withLock { $0[correlation] = handler }
            return true
        }
        guard registered else {
            handler(.failure(ProcessError(.disconnected, "the channel to the supervisor closed")))
            return
        }
        do {
            try writeLock.withLock { _ in try frame.withUnsafeBytes { try writeAfterPending($0) } }
        } catch {
            replyHandlers.withLock { $0.removeValue(forKey: correlation) }?(.failure(error))
        }
    }

    // MARK: this child's own requests

    private let replyWaiters = Mutex<[UInt64: CheckedContinuation<FrameBody, any Error>]>([:])
    /// Set under `replyWaiters`' lock once the channel ended.
    nonisolated(unsafe) private var readerEnded = false
    private let correlations = Atomic<UInt64>(2)

    /// Waits while the supervisor asked this child to hold new requests and messages. On the
    /// run loop's thread it first reads what already arrived (every ``FlowControl/releaseChunk``
    /// bytes sent): code that sends without ever suspending would otherwise never see a `pause`.
    func waitToSend(bytes: Int) async {
        guard speaksFlowControl else { return }
        if sentSinceCheck.wrappingAdd(bytes, ordering: .relaxed).newValue >= FlowControl.releaseChunk {
            sentSinceCheck.store(0, ordering: .relaxed)
            runLoop?.readArrivedInput()
        }
        await sendGate.waitUntilOpen()
    }
    private let sentSinceCheck = Atomic<Int>(0)

    /// Sends a request to the worker `destination` (0: the supervisor) and waits for its answer.
    func request<P: Encodable>(_ payload: P, to destination: UInt64, kind: Envelope.Kind = .request,
                               timeout: Duration?) async throws -> FrameBody {
        let correlation = correlations.wrappingAdd(1, ordering: .relaxed).oldValue
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do {
            try writer.append(Envelope(kind, from: id, to: destination, correlation: correlation), payload: payload)
        } catch {
            throw ProcessError.sizeChecked(error, "a request", limit: maxFrameSize)
        }
        let frame = writer.take()
        if destination != Envelope.supervisor { await waitToSend(bytes: frame.count) }
        let outcome: TimedOutcome<Result<FrameBody, any Error>> = await TimedWait.wait(
            until: timeout.map { ContinuousClock.now.advanced(by: $0) },
            onEnd: { [self] outcome in   // timed out or cancelled: its answer is not awaited any more
                if case .value = outcome { return }
                _ = replyHandlers.withLock { $0.removeValue(forKey: correlation) }
            }
        ) { once in
            if !once.isFinished { sendRequest(frame, correlation: correlation) { once.resume(returning: $0) } }
        }
        switch outcome {
        case .value(let result): return try result.get()
        case .timedOut: throw ProcessError(.timedOut, "worker \(destination) did not answer within \(timeout ?? .zero)")
        case .cancelled: throw CancellationError()
        }
    }

}
