import MessagePack
import NIOCore
import Synchronization

/// How a ``QueueClient`` reaches the ``QueueService``: in this process (the parent, where the
/// supervisor runs) or over a worker's channel.
protocol QueueTransport: Sendable {
    /// The largest item, in encoded bytes.
    var maxItemSize: Int { get }
    func nextCorrelation() -> UInt64
    /// Makes the queue known to the supervisor; ordered before this process's other frames about it.
    func open(_ handle: QueueHandle)
    /// A one-way put (unbounded queue, or within granted credit); throws
    /// ``QueueError/Code/itemTooLarge`` for an item above ``maxItemSize``. `envelope` is what
    /// ``putEnvelope(for:)`` made for this queue.
    func put<Item: Encodable>(_ handle: QueueHandle, _ item: Item, envelope: MessagePackValue?) throws
    /// The envelope every one-way put of this process to `handle` carries, made once (nil when
    /// puts are not frames).
    func putEnvelope(for handle: QueueHandle) -> MessagePackValue?
    /// Sends `request`; `answer` is called once with the supervisor's answer.
    func request(_ handle: QueueHandle, _ request: QueueRequest, correlation: UInt64, answer: @escaping @Sendable (QueueAnswer) -> Void)
    /// Asks the supervisor to answer the waiting request `correlation` now.
    func cancel(_ handle: QueueHandle, correlation: UInt64)
    /// Shuts the queue down for every process; `immediate` also drops what is queued.
    func shutdown(_ handle: QueueHandle, immediate: Bool)
    /// The client has got/done counts to report.
    func reportsChanged(_ client: QueueClient)
}

/// The parent's way to the server: operations are queued and run on the supervisor's loop in
/// batches (one loop task for however many were queued meanwhile), in the order they were made.
final class ParentQueueTransport: QueueTransport {
    private let server: QueueService
    private let operations = Mutex<(list: [@Sendable (QueueService) -> Void], scheduled: Bool)>(([], false))
    private let correlations = Atomic<UInt64>(1)

    /// `service` runs on a started supervisor's loop; `clients` are told of closes and throttles.
    init(service: QueueService, clients: QueueClients) {
        server = service
        submit { [weak clients] in $0.localClients = clients }
    }

    var maxItemSize: Int { server.maxFrameSize - QueueWire.itemOverhead }

    func nextCorrelation() -> UInt64 { correlations.wrappingAdd(1, ordering: .relaxed).oldValue }

    private func submit(_ operation: @escaping @Sendable (QueueService) -> Void) {
        let schedule = operations.withLock { state -> Bool in
            state.list.append(operation)
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        if schedule { server.loop.execute { [self] in runQueued() } }
    }

    private func runQueued() {
        while true {
            let list = operations.withLock { state -> [@Sendable (QueueService) -> Void] in
                defer { state.list.removeAll(keepingCapacity: true) }
                if state.list.isEmpty { state.scheduled = false }
                return state.list
            }
            if list.isEmpty { break }
            for operation in list { operation(server) }
        }
        server.flush()
    }

    func open(_ handle: QueueHandle) {
        submit { $0.open(peer: Envelope.supervisor, id: handle.id, maxsize: handle.maxsize, joinable: handle.joinable, byteBudget: handle.byteBudget) }
    }

    func putEnvelope(for handle: QueueHandle) -> MessagePackValue? { nil }

    func put<Item: Encodable>(_ handle: QueueHandle, _ item: Item, envelope: MessagePackValue?) throws {
        let bytes = try QueueCodec.encoder.encode(item)
        try QueueClient.checkSize(bytes, of: handle, limit: maxItemSize)
        submit { $0.put(peer: Envelope.supervisor, id: handle.id, item: ByteBuffer(bytes: bytes), throttleable: true) }
    }

    func request(_ handle: QueueHandle, _ request: QueueRequest, correlation: UInt64, answer: @escaping @Sendable (QueueAnswer) -> Void) {
        let answerer = QueueAnswerer(peer: Envelope.supervisor, correlation: correlation, local: answer)
        submit { server in
            switch request {
            case .putWait(let item, let timeout): server.putWait(id: handle.id, item: ByteBuffer(bytes: item), timeout: timeout, answerer: answerer)
            case .get(let max, let timeout): server.get(id: handle.id, max: max, timeout: timeout, answerer: answerer)
            case .status: server.status(id: handle.id, answerer: answerer)
            case .join: server.join(id: handle.id, answerer: answerer)
            }
        }
    }

    func cancel(_ handle: QueueHandle, correlation: UInt64) {
        submit { $0.cancel(peer: Envelope.supervisor, id: handle.id, correlation: correlation) }
    }

    func shutdown(_ handle: QueueHandle, immediate: Bool) {
        submit { $0.shutdown(peer: Envelope.supervisor, id: handle.id, immediate: immediate) }
    }

    func reportsChanged(_ client: QueueClient) {
        submit { server in
            let (got, done) = client.takeReports()
            if got > 0 || done > 0 { server.report(peer: Envelope.supervisor, id: client.handle.id, got: got, done: done) }
        }
    }
}

/// A worker's way to the server: queue frames over its channel. One-way frames (open, put,
/// report, shutdown, cancel) wait in the session's pending output and leave with the next write:
/// a loop of puts costs one `write` per 64 KiB, not one per item. Requests leave at once,
/// after the pending frames, and their answers are handled on the run loop's thread.
final class WorkerQueueTransport: QueueTransport {
    let session: ChildSession
    private let encoder = MessagePackEncoder()
    private let decoder = MessagePackDecoder()

    init(session: ChildSession, clients: QueueClients) {
        self.session = session
        let source = session.id
        session.beforeFlush = { [weak clients] in clients?.reportFrames(source: source) ?? [] }
        // A worker that uses queues moves many frames: a larger channel lets a producer write
        // ahead of the supervisor and a batch of items arrive in one read (with 64 KiB the
        // processes waited on each other half the time). 256 KiB, not the 1 MiB maximum: past
        // the user's pipe-pages soft limit (64 MiB) the kernel gives every *new* pipe 8 KiB, so
        // this leaves room for about 128 such workers. A refusal is harmless.
        _ = try? session.input.setPipeCapacity(Self.channelCapacity)
        _ = try? session.output.setPipeCapacity(Self.channelCapacity)
    }

    static let channelCapacity = 256 << 10

    var maxItemSize: Int { ChildSession.pendingMaxFrameSize }

    func nextCorrelation() -> UInt64 { session.nextCorrelation() }

    private func frame(_ kind: Envelope.Kind, _ handle: QueueHandle, correlation: UInt64 = 0, timeout: UInt64?? = .none,
                       payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        payload.withUnsafeBytes {
            QueueWire.appendFrame(kind, source: session.id, correlation: correlation, queue: handle.id, timeout: timeout, payload: $0, to: &bytes)
        }
        return bytes
    }

    func open(_ handle: QueueHandle) {
        let envelope = QueueWire.envelope(QueueWire.Kind.open, source: session.id, queue: handle.id)
        // Never flushes here: the caller may hold the clients' table lock.
        _ = try? session.sendLater(flushIfFull: false) { try $0.append(envelope, QueueWire.Open(maxsize: handle.maxsize, joinable: handle.joinable,
                                                                                             byteBudget: handle.byteBudget == QueueHandle.defaultByteBudget ? nil : handle.byteBudget)) }
    }

    func putEnvelope(for handle: QueueHandle) -> MessagePackValue? {
        QueueWire.envelope(QueueWire.Kind.put, source: session.id, queue: handle.id)
    }

    func put<Item: Encodable>(_ handle: QueueHandle, _ item: Item, envelope: MessagePackValue?) throws {
        let envelope = envelope ?? QueueWire.envelope(QueueWire.Kind.put, source: session.id, queue: handle.id)
        do {
            // Encoded straight into the pending output: no copy of the item.
            if try session.sendLater({ try $0.append(envelope, item) }) {
                // A producer that never waits would otherwise not read a `queueThrottle` until
                // it stops: each write of its puts looks at what arrived (on the loop's thread).
                session.runLoop?.readArrivedInput()
            }
            session.runLoop?.wakeToFlush()
        } catch let error as MessagePackError where error.code == .frameTooLarge {
            throw QueueError(.itemTooLarge, "queue \(handle.id): the item is above the largest item of about \(maxItemSize) bytes (\(error))")
        }
    }

    func request(_ handle: QueueHandle, _ request: QueueRequest, correlation: UInt64, answer: @escaping @Sendable (QueueAnswer) -> Void) {
        let bytes: [UInt8]
        switch request {
        case .putWait(let item, let timeout):
            bytes = frame(QueueWire.Kind.putWait, handle, correlation: correlation, timeout: .some(timeout.map(Self.micros)), payload: item)
        case .get(let max, let timeout):
            let payload = (try? encoder.encode(QueueWire.Get(max: max, timeout: timeout.map(Self.micros)))) ?? QueueWire.nilPayload
            bytes = frame(QueueWire.Kind.get, handle, correlation: correlation, payload: payload)
        case .status:
            bytes = frame(QueueWire.Kind.status, handle, correlation: correlation, payload: QueueWire.nilPayload)
        case .join:
            bytes = frame(QueueWire.Kind.join, handle, correlation: correlation, payload: QueueWire.nilPayload)
        }
        let decoder = decoder
        session.sendRequest(bytes, correlation: correlation) { result in
            answer(Self.decode(result, request, handle, decoder))
        }
    }

    private static func micros(_ duration: Duration) -> UInt64 {
        UInt64(max(0, duration.nanoseconds) / 1_000)
    }

    private static func decode(_ result: Result<FrameBody, any Error>, _ request: QueueRequest, _ handle: QueueHandle,
                               _ decoder: MessagePackDecoder) -> QueueAnswer {
        do {
            let body = try result.get()
            if body.envelope.kind == .error {
                let remote = try body.decodePayload(RemoteError.self)
                return .failure(QueueError(remote.typeName.hasSuffix("QueueError") ? .invalidArgument : .disconnected,
                                           "queue \(handle.id): the supervisor refused the request: \(remote.message)"))
            }
            switch request {
            case .get:
                let (status, items) = try QueueWire.parseGetAnswer(body.payload)
                return .get(status, items)
            case .putWait:
                let fields = try body.decodePayload([UInt64].self, decoder: decoder)
                guard fields.count == 2, let status = QueueWire.Status(rawValue: UInt8(clamping: fields[0])) else {
                    throw QueueWire.Malformed(description: "a put answer must be [status, credit]")
                }
                return .put(status, credit: Int(clamping: fields[1]))
            case .join:
                let fields = try body.decodePayload([UInt8].self, decoder: decoder)
                guard let first = fields.first, let status = QueueWire.Status(rawValue: first) else {
                    throw QueueWire.Malformed(description: "a join answer must be [status]")
                }
                return .join(status)
            case .status:
                return .status(try body.decodePayload(QueueWire.QueueStatus.self, decoder: decoder))
            }
        } catch let error as QueueError {
            return .failure(error)
        } catch let error as ProcessError where error.code == .disconnected {
            return .failure(QueueError(.disconnected, "queue \(handle.id): \(error.message)"))
        } catch {
            return .failure(QueueError(.disconnected, "queue \(handle.id): \(error)"))
        }
    }

    func cancel(_ handle: QueueHandle, correlation: UInt64) {
        let envelope = QueueWire.envelope(QueueWire.Kind.cancel, source: session.id, correlation: correlation, queue: handle.id)
        _ = try? session.sendLater { try $0.append(envelope, MessagePackValue.nil) }
        try? session.flushPendingOutput()
    }

    func shutdown(_ handle: QueueHandle, immediate: Bool) {
        let envelope = QueueWire.envelope(QueueWire.Kind.close, source: session.id, queue: handle.id)
        _ = try? session.sendLater { try $0.append(envelope, QueueWire.shutdownPayload(immediate: immediate)) }
        try? session.flushPendingOutput()
    }

    /// Reports leave with the next write (``ChildSession/beforeFlush``): at the latest when the
    /// run loop waits, which code on another thread has to wake it for.
    func reportsChanged(_ client: QueueClient) { session.runLoop?.wakeToFlush() }
}
