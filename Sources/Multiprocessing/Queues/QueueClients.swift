import MessagePack
import Synchronization

/// What identifies a queue in every process: the id the supervisor serves it under and how it
/// was made. The public types encode it as `{"queue": id, "maxsize": n, "joinable": bool}`, plus
/// `"byteBudget"` when it is not the default.
struct QueueHandle: Hashable, Sendable {
    var id: UInt64
    var maxsize: Int
    var joinable: Bool
    /// Bytes of items the supervisor holds for the queue past which puts wait.
    var byteBudget: Int = QueueHandle.defaultByteBudget

    /// The byte budget of a queue made without one: 64 MiB.
    static let defaultByteBudget = 64 << 20

    /// Checks the arguments of a new queue.
    static func validate(maxsize: Int, byteBudget: Int) throws {
        guard maxsize >= 0 else { throw QueueError(.invalidArgument, "maxsize \(maxsize) is negative (0 means unbounded)") }
        guard byteBudget > 0 else { throw QueueError(.invalidArgument, "byteBudget \(byteBudget) must be above 0 bytes") }
    }
}

/// The queue clients of one runtime, by queue id: one per queue per process, found when a
/// handle is made or decoded. In the parent they reach the runtime's ``QueueService`` on its
/// loop; in a worker, over the worker's channel.
///
/// ```swift
/// let clients = QueueClients(parentOf: service)     // or QueueClients(worker: session)
/// let queue = try Queue<Int>(clients: clients)
/// ```
final class QueueClients: Sendable {
    /// What a worker's hello announces for queues.
    static let capabilities = [QueueWire.budgetCapability]

    /// The id new handles carry in their high 32 bits: 0 in the parent, the worker's id in a
    /// worker, so no two processes make the same id without asking anyone.
    let owner: UInt64
    private let table = Mutex<[UInt64: QueueClient]>([:])
    private let serials = Atomic<UInt64>(1)
    private enum Way: Sendable {
        case parent(@Sendable () throws -> QueueService)
        case worker(ChildSession)
    }
    private let way: Way
    private let transport = Mutex<(any QueueTransport)?>(nil)

    /// The parent's clients: `service` gives the service, its supervisor started (it may
    /// throw ``ProcessError/Code/supervisorUnavailable``); asked on first use.
    init(parentOf service: @escaping @Sendable () throws -> QueueService) {
        owner = 0
        way = .parent(service)
    }

    /// The parent's clients of a service whose supervisor runs already.
    convenience init(parentOf service: QueueService) {
        self.init(parentOf: { service })
    }

    /// A worker's clients: frames over `session`'s channel; its notices (a queue shut down, a
    /// throttle) come back through the session's handler for the queue kinds.
    init(worker session: ChildSession) {
        owner = session.id
        way = .worker(session)
        session.handle(kinds: UInt8(QueueWire.Kind.range.lowerBound)...UInt8(QueueWire.Kind.range.upperBound)) { [weak self] body in
            self?.receivedNotice(body)
        }
    }

    /// A new queue's handle (ids count from 1 in each process).
    func makeHandle(maxsize: Int, joinable: Bool, byteBudget: Int) throws -> QueueHandle {
        try QueueHandle.validate(maxsize: maxsize, byteBudget: byteBudget)
        let serial = serials.wrappingAdd(1, ordering: .relaxed).oldValue
        return QueueHandle(id: owner << 32 | serial, maxsize: maxsize, joinable: joinable, byteBudget: byteBudget)
    }

    /// The client of `handle` in this process; the first use opens the queue in the supervisor
    /// (before any other frame of this process about it). In the parent, the first use starts
    /// the supervisor, and throws ``ProcessError/Code/supervisorUnavailable`` if it cannot.
    func client(for handle: QueueHandle) throws -> QueueClient {
        let transport = try self.transportStarted()
        return table.withLock { table in
            if let client = table[handle.id] { return client }
            let client = QueueClient(handle: handle, transport: transport)
            table[handle.id] = client
            transport.open(handle)
            return client
        }
    }

    private func transportStarted() throws -> any QueueTransport {
        if let made = transport.withLock({ $0 }) { return made }
        // Made outside the lock: starting the supervisor may take a while and may throw.
        let made: any QueueTransport
        switch way {
        case .parent(let service): made = ParentQueueTransport(service: try service(), clients: self)
        case .worker(let session): made = WorkerQueueTransport(session: session, clients: self)
        }
        return transport.withLock { current in
            if let current { return current }
            current = made
            return made
        }
    }

    func markClosed(_ id: UInt64) {
        table.withLock { $0[id] }?.markClosed()
    }

    /// The supervisor says whether queue `id` is past its byte budget (this process's puts then wait).
    func setThrottled(_ id: UInt64, _ throttled: Bool) {
        table.withLock { $0[id] }?.setThrottled(throttled)
    }

    /// A notice from the supervisor: `queueClosed` (payload: the queue id) or `queueThrottle`
    /// (payload: `[queue id, throttled]`); other kinds are not sent to workers and are ignored.
    func receivedNotice(_ body: FrameBody) {
        switch body.envelope.kind {
        case QueueWire.Kind.closed:
            guard let id = try? body.decodePayload(UInt64.self) else { return }
            markClosed(id)
        case QueueWire.Kind.throttle:
            guard let notice = try? body.decodePayload(QueueWire.Throttle.self) else { return }
            setThrottled(notice.queue, notice.throttled)
        default:
            break
        }
    }

    /// The `report` frames of every client with counts to report (a worker writes them before
    /// any other pending frame goes out).
    func reportFrames(source: UInt64) -> [UInt8] {
        let clients = table.withLock { Array($0.values) }
        var bytes: [UInt8] = []
        for client in clients {
            let (got, done) = client.takeReports()
            guard got > 0 || done > 0 else { continue }
            var payload: [UInt8] = []
            payload.packArrayHeader(2)
            payload.packUInt(UInt64(got))
            payload.packUInt(UInt64(done))
            payload.withUnsafeBytes { QueueWire.appendFrame(QueueWire.Kind.report, source: source, queue: client.handle.id, payload: $0, to: &bytes) }
        }
        return bytes
    }
}
