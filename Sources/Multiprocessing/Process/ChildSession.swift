import Dispatch
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
    private var reader: FrameReader
    private let writeLock = Mutex<Void>(())
    private let maxFrameSize: Int

    init(input: FileDescriptor, output: FileDescriptor, entry: String, name: String, maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) {
        self.input = input
        self.output = output
        self.entry = entry
        self.name = name
        self.maxFrameSize = maxFrameSize
        self.reader = FrameReader(maxFrameSize: maxFrameSize)
    }

    /// Says hello and waits for the welcome.
    func handshake() throws {
        try send(FrameBody(Envelope(.hello, from: 0, to: Envelope.supervisor),
                           encoding: Hello(pid: ProcessControl.id, entry: entry, capabilities: [])))
        guard let answer = try receive() else { throw Closed() }
        switch answer.envelope.kind {
        case .welcome:
            let welcome = try answer.decodePayload(Welcome.self)
            id = welcome.id
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
            try writer.drain { try output.writeAll($0) }
        }
    }

    /// Sends `envelope` and `payload` as one frame.
    func send<P: Encodable>(_ envelope: Envelope, _ payload: P) throws {
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        try writer.append(envelope, payload: payload)
        try writeLock.withLock { _ in
            try writer.drain { try output.writeAll($0) }
        }
    }

    /// Writes a runtime message to standard error, prefixed with this child's name.
    func log(_ message: String) {
        ProcessEnvironment.writeError("[\(name)] \(message)\n")
    }

    // MARK: the mailbox of a worker

    /// Frames waiting for the worker's code. Bounded: when it is full the reader thread stops
    /// reading, the pipe fills, and the sender waits (backpressure, never unbounded memory).
    static let mailboxCapacity = 256
    private let mailboxSlots = DispatchSemaphore(value: ChildSession.mailboxCapacity)
    private var mailboxStream: AsyncThrowingStream<FrameBody, any Error>?
    private var mailboxContinuation: AsyncThrowingStream<FrameBody, any Error>.Continuation?

    /// Starts the reader thread: answers to this child's own requests go to their waiters,
    /// everything else to the mailbox; the mailbox ends when the channel does.
    func startReader() {
        let (stream, continuation) = AsyncThrowingStream<FrameBody, any Error>.makeStream(bufferingPolicy: .unbounded)
        mailboxStream = stream
        mailboxContinuation = continuation
        do {
            try OSThread.start(name: "mp-mailbox") { [self] in
                var failure: (any Error)?
                do {
                    while let body = try receive() {
                        switch body.envelope.kind {
                        case .reply, .error:
                            let waiter = replyWaiters.withLock { $0.removeValue(forKey: body.envelope.correlation) }
                            waiter?.resume(returning: body)
                        default:
                            mailboxSlots.wait()
                            continuation.yield(body)
                        }
                    }
                } catch {
                    failure = error
                }
                let closed = ProcessError(.disconnected, "the channel to the supervisor closed")
                for waiter in replyWaiters.withLock({ table in defer { table.removeAll() }; return Array(table.values) }) {
                    waiter.resume(throwing: closed)
                }
                readerEnded.withLock { $0 = true }
                if let failure { continuation.finish(throwing: failure) } else { continuation.finish() }
            }
        } catch {
            continuation.finish(throwing: error)
        }
    }

    // MARK: this child's own requests

    private let replyWaiters = Mutex<[UInt64: CheckedContinuation<FrameBody, any Error>]>([:])
    private let readerEnded = Mutex(false)
    private let correlations = Atomic<UInt64>(2)

    /// Sends a request to the worker `destination` (0: the supervisor) and waits for its answer.
    func request<P: Encodable>(_ payload: P, to destination: UInt64, timeout: Duration?) async throws -> FrameBody {
        let correlation = correlations.wrappingAdd(1, ordering: .relaxed).oldValue
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        try writer.append(Envelope(.request, from: id, to: destination, correlation: correlation), payload: payload)
        let frame = writer.take()
        let timeoutTask = timeout.map { timeout in
            Task { [self] in
                try await Task.sleep(for: timeout)
                replyWaiters.withLock { $0.removeValue(forKey: correlation) }?
                    .resume(throwing: ProcessError(.timedOut, "worker \(destination) did not answer within \(timeout)"))
            }
        }
        defer { timeoutTask?.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<FrameBody, any Error>) in
                let registered = replyWaiters.withLock { table -> Bool in
                    if readerEnded.withLock({ $0 }) { return false }
                    table[correlation] = continuation
                    return true
                }
                guard registered else {
                    continuation.resume(throwing: ProcessError(.disconnected, "the channel to the supervisor closed"))
                    return
                }
                do {
                    try writeLock.withLock { _ in try frame.withUnsafeBytes { try output.writeAll($0) } }
                } catch {
                    replyWaiters.withLock { $0.removeValue(forKey: correlation) }?.resume(throwing: error)
                }
            }
        } onCancel: {
            replyWaiters.withLock { $0.removeValue(forKey: correlation) }?.resume(throwing: CancellationError())
        }
    }

    /// The mailbox, in arrival order; each element taken frees a slot.
    var mailbox: AsyncThrowingStream<FrameBody, any Error> { mailboxStream! }

    /// Called when the worker's code took one frame from the mailbox.
    func tookFromMailbox() { mailboxSlots.signal() }
}
