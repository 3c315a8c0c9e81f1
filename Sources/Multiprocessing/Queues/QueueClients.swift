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

    /// A new queue's handle: ids from the parent count from 1; a worker's carry its id in the
    /// high 32 bits, so no two processes make the same one without asking anyone.
    static func make(maxsize: Int, joinable: Bool, byteBudget: Int = defaultByteBudget) throws -> QueueHandle {
        guard maxsize >= 0 else { throw QueueError(.invalidArgument, "maxsize \(maxsize) is negative (0 means unbounded)") }
        guard byteBudget > 0 else { throw QueueError(.invalidArgument, "byteBudget \(byteBudget) must be above 0 bytes") }
        let serial = serials.wrappingAdd(1, ordering: .relaxed).oldValue
        let owner = ChildSession.current?.id ?? 0
        return QueueHandle(id: owner << 32 | serial, maxsize: maxsize, joinable: joinable, byteBudget: byteBudget)
    }

    private static let serials = Atomic<UInt64>(1)
}

/// Every queue client of this process, by queue id.
enum QueueClients {
    private static let table = Mutex<[UInt64: QueueClient]>([:])
    private static let workerTransport = Mutex<WorkerQueueTransport?>(nil)

    /// The client of `handle` in this process; the first use opens the queue in the supervisor
    /// (before any other frame of this process about it).
    static func client(for handle: QueueHandle) -> QueueClient {
        table.withLock { table in
            if let client = table[handle.id] { return client }
            let transport = transport()
            let client = QueueClient(handle: handle, transport: transport)
            table[handle.id] = client
            transport.open(handle)
            return client
        }
    }

    private static func transport() -> any QueueTransport {
        guard let session = ChildSession.current else { return ParentQueueTransport.shared }
        return workerTransport.withLock { transport in
            if let transport { return transport }
            let made = WorkerQueueTransport(session: session)
            transport = made
            return made
        }
    }

    static func markClosed(_ id: UInt64) {
        table.withLock { $0[id] }?.markClosed()
    }

    /// The supervisor says whether queue `id` is past its byte budget (this process's puts then wait).
    static func setThrottled(_ id: UInt64, _ throttled: Bool) {
        table.withLock { $0[id] }?.setThrottled(throttled)
    }

    /// A `queueThrottle` notice from the supervisor (payload: `[queue id, throttled]`).
    static func receivedThrottle(_ body: FrameBody) {
        guard let notice = try? body.decodePayload(QueueWire.Throttle.self) else { return }
        setThrottled(notice.queue, notice.throttled)
    }

    /// A `queueClosed` notice from the supervisor (payload: the queue id).
    static func received(_ body: FrameBody) {
        guard let id = try? body.decodePayload(UInt64.self) else { return }
        markClosed(id)
    }

    /// The `report` frames of every client with counts to report (a worker writes them before
    /// any other pending frame goes out).
    static func reportFrames(source: UInt64) -> [UInt8] {
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
