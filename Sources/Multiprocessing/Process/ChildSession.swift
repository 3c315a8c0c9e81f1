import FoundationEssentials
import MessagePack
import Synchronization

/// A child's end of its channel to the supervisor: frames in on fd 3, frames out on fd 4; the
/// handshake and what it agreed; sending. Composed of ``PendingOutput`` (frames queued for the
/// next write), ``ReplyTable`` (requests awaiting answers) and ``ServiceNoticeTable`` (the
/// handlers of services' kinds).
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

    /// The notices services' clients get, by kind.
    private let serviceNotices = ServiceNoticeTable()

    /// Frames of `kinds` go to `handler` (on the run loop's thread) instead of the mailbox.
    func handle(kinds: ClosedRange<UInt8>, with handler: @escaping @Sendable (FrameBody) -> Void) {
        serviceNotices.handle(kinds: kinds, with: handler)
    }

    /// The handler of `kind`, if a service's client registered one.
    func serviceHandler(for kind: Envelope.Kind) -> (@Sendable (FrameBody) -> Void)? {
        serviceNotices.handler(for: kind)
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
    private let pending = PendingOutput()
    static let pendingLimit = PendingOutput.limit
    static let pendingMaxFrameSize = PendingOutput.maxFrameSize
    /// Called before pending output is written; returns more frames to write first (the queue
    /// clients' got/done reports). Never called with a client's lock held. Set once.
    var beforeFlush: (@Sendable () -> [UInt8])? {
        get { pending.beforeFlush }
        set { pending.beforeFlush = newValue }
    }

    /// Queues frames (`build` appends them to the writer, encoding straight into it) to go out
    /// with the next write: many small frames, one syscall. Past ``pendingLimit`` they are
    /// written at once, unless `flushIfFull` is false (the caller holds a lock the flush may
    /// need). A frame `build` fails to append is not queued. Returns whether it wrote.
    @discardableResult
    func sendLater(flushIfFull: Bool = true, _ build: (inout FrameWriter) throws -> Void) throws -> Bool {
        let full = try pending.add(build)
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
        try pending.write(before: bytes, to: output)
    }

    /// Writes a runtime message to standard error, prefixed with this child's name.
    func log(_ message: String) {
        RuntimeLog.error("[\(name)] \(message)", metadata: ["worker": "\(name)", "pid": "\(ProcessControl.id)"])
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
    func resolveReply(_ body: FrameBody) { replies.resolve(body) }

    /// The channel ended: whoever waits for an answer learns that none will come.
    func channelEnded() {
        sendGate.set(paused: false)   // waiting senders go on, and learn the channel closed
        replies.end(with: ProcessError(.disconnected, "the channel to the supervisor closed"))
    }

    /// This child's requests awaiting answers.
    private let replies = ReplyTable()

    /// A correlation id for a request of this child.
    func nextCorrelation() -> UInt64 { replies.nextCorrelation() }

    /// Sends the request frame `frame` (whose correlation is `correlation`) after any pending
    /// output; `handler` gets its answer, or the error that means none will come.
    func sendRequest(_ frame: [UInt8], correlation: UInt64, handler: @escaping @Sendable (Result<FrameBody, any Error>) -> Void) {
        guard replies.register(handler: handler, for: correlation) else {
            handler(.failure(ProcessError(.disconnected, "the channel to the supervisor closed")))
            return
        }
        do {
            try writeLock.withLock { _ in try frame.withUnsafeBytes { try writeAfterPending($0) } }
        } catch {
            replies.takeHandler(correlation)?(.failure(error))
        }
    }

    // MARK: this child's own requests

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
        let correlation = replies.nextCorrelation()
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
                _ = replies.takeHandler(correlation)
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
