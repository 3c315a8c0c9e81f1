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
        replyWaiters.withLock { $0.removeValue(forKey: body.envelope.correlation) }?.resume(returning: body)
    }

    /// The channel ended: whoever waits for an answer learns that none will come.
    func channelEnded() {
        let closed = ProcessError(.disconnected, "the channel to the supervisor closed")
        let waiting = replyWaiters.withLock { table in
            readerEnded = true
            defer { table.removeAll() }
            return Array(table.values)
        }
        for waiter in waiting { waiter.resume(throwing: closed) }
    }

    // MARK: this child's own requests

    private let replyWaiters = Mutex<[UInt64: CheckedContinuation<FrameBody, any Error>]>([:])
    /// Set under `replyWaiters`' lock once the channel ended.
    nonisolated(unsafe) private var readerEnded = false
    private let correlations = Atomic<UInt64>(2)

    /// Sends a request to the worker `destination` (0: the supervisor) and waits for its answer.
    func request<P: Encodable>(_ payload: P, to destination: UInt64, kind: Envelope.Kind = .request,
                               timeout: Duration?) async throws -> FrameBody {
        let correlation = correlations.wrappingAdd(1, ordering: .relaxed).oldValue
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        try writer.append(Envelope(kind, from: id, to: destination, correlation: correlation), payload: payload)
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
                    if readerEnded { return false }
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

}
