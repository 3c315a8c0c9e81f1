import MessagePack
import NIOCore
import NIOPosix
import Synchronization

/// A manager in a process of its own (Python's `BaseManager(...).start()`): a child running
/// the built-in entry `mp.manager.server`, which hosts only the custom types registered with
/// `bootstrap(managed:)`, so a crash or a slow method there touches nothing else. Clients reach
/// it through the supervisor with core `request` frames (and one-way `message` frames) whose
/// payload wraps a manager frame: `[kind, correlation, payload: bin]`; it monitors each client
/// and releases what a client held when it ends.
enum ManagerProcess {
    /// The entry name.
    static let entry = "mp.manager.server"

    /// The entry hosting `types`.
    static func definition(types: [any ManagedType.Type]) -> EntryDefinition {
        EntryDefinition(name: entry) { session in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let loop = group.next()
            let objects: ManagerObjects
            do {
                objects = try await loop.submit {
                    let objects = ManagerObjects(loop: loop, builtIn: false)
                    for type in types { type.register(in: objects) }
                    return objects
                }.get()
            } catch {
                session.log("the manager's loop did not start: \(error)")
                try? await group.shutdownGracefully()
                return 1
            }
            let context = WorkerContext(session: session)
            let links = ClientLinks(session: session)
            do {
                for try await event in context.events {
                    switch event {
                    case .request(let request):
                        guard let (kind, correlation, payload) = unwrap(request.value) else {
                            try? request.fail(ManagerError(.protocolViolation, "a manager request must be [kind, correlation, payload: bin]").remote)
                            continue
                        }
                        let (link, isNew) = links.link(for: request.envelope.source)
                        if isNew, request.envelope.source != Envelope.supervisor { try? await context.monitor(request.envelope.source) }
                        link.expect(correlation, request)
                        loop.execute { payload.withUnsafeBytes { objects.receive(kind: kind, correlation: correlation, payload: $0, from: link) } }
                    case .message(let from, let value):
                        guard let (kind, correlation, payload) = unwrap(value) else { continue }
                        let (link, _) = links.link(for: from)
                        loop.execute { payload.withUnsafeBytes { objects.receive(kind: kind, correlation: correlation, payload: $0, from: link) } }
                    case .down(let down):
                        links.remove(down.id)
                        loop.execute { objects.clientGone(down.id) }
                    }
                }
            } catch {
                session.log("the manager's mailbox failed: \(error)")
            }
            try? await loop.submit { objects.stop() }.get()
            try? await group.shutdownGracefully()
            return 0
        }
    }

    /// `[kind, correlation, payload]` as sent by ``RoutedManagerTransport``.
    static func unwrap(_ value: MessagePackValue) -> (UInt8, UInt64, [UInt8])? {
        guard case .array(let fields) = value, fields.count == 3,
              let kind = fields[0].integerValue, ManagerWire.kinds.contains(UInt8(clamping: kind)),
              let correlation = fields[1].integerValue else { return nil }
        return (UInt8(kind), UInt64(correlation), fields[2].bytes)
    }

    /// `[kind, correlation, payload]` (the payload a msgpack value in place; nil if it is not one).
    static func wrap(_ kind: UInt8, _ correlation: UInt64, _ payload: [UInt8]) -> MessagePackValue? {
        guard let value = try? MessagePackValue(unpacking: payload) else { return nil }
        return .array([.uint(UInt64(kind)), .uint(correlation), value])
    }

    /// The server's clients by id.
    private final class ClientLinks: Sendable {
        let session: ChildSession
        private let table = Mutex<[UInt64: RequestLink]>([:])

        init(session: ChildSession) { self.session = session }

        func link(for client: UInt64) -> (RequestLink, isNew: Bool) {
            table.withLock { table in
                if let link = table[client] { return (link, false) }
                let link = RequestLink(id: client)
                table[client] = link
                return (link, true)
            }
        }

        func remove(_ client: UInt64) { table.withLock { $0[client] = nil } }
    }

    /// One client: its waiting requests by the manager correlation, answered as core replies.
    private final class RequestLink: ManagerLink, Sendable {
        let id: UInt64
        var name: String { id == Envelope.supervisor ? "the parent" : "worker \(id)" }
        private let pending = Mutex<[UInt64: WorkerContext.Request<MessagePackValue>]>([:])

        init(id: UInt64) { self.id = id }

        func expect(_ correlation: UInt64, _ request: WorkerContext.Request<MessagePackValue>) {
            pending.withLock { $0[correlation] = request }
        }

        func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64) {
            guard let request = pending.withLock({ $0.removeValue(forKey: correlation) }) else { return }
            switch result {
            case .success(let bytes): try? request.reply((try? MessagePackValue(unpacking: bytes)) ?? .nil)
            case .failure(let error): try? request.fail(error.remote)
            }
        }
    }
}

extension ManagedType {
    /// Makes this type one `objects` can host.
    static func register(in objects: ManagerObjects) {
        objects.register(typeID: typeID) { call throws(ManagerError) in
            try CustomObject<Self>(try call.argument(0, as: Argument.self), call: call)
        }
    }
}

/// The way to a manager in its own process (``ManagerProcess``), through this process's
/// supervisor (the parent) or channel (a worker): manager frames wrapped in core requests and
/// messages addressed to the server's worker id.
final class RoutedManagerTransport: ManagerTransport {
    enum Way: Sendable {
        /// In the process whose supervisor started the server.
        case parent(@Sendable () throws -> SupervisorCore)
        /// In a child of that supervisor.
        case worker(ChildSession)
    }

    let server: UInt64
    let way: Way
    private let correlations = Atomic<UInt64>(1)

    init(server: UInt64, way: Way) {
        self.server = server
        self.way = way
    }

    /// The endpoint a proxy of this manager names: its server's worker id.
    static func endpoint(of server: UInt64) -> String { "worker:\(server)" }

    /// The server's worker id in an endpoint of ``endpoint(of:)``.
    static func server(in endpoint: String) -> UInt64? {
        endpoint.hasPrefix("worker:") ? UInt64(endpoint.dropFirst("worker:".count)) : nil
    }

    var clientID: UInt64 {
        switch way {
        case .parent: Envelope.supervisor
        case .worker(let session): session.id
        }
    }

    var endpoint: String? { Self.endpoint(of: server) }

    func nextCorrelation() -> UInt64 { correlations.wrappingAdd(1, ordering: .relaxed).oldValue }

    func request(_ kind: UInt8, correlation: UInt64, payload: [UInt8], answer: @escaping @Sendable (Result<[UInt8], ManagerError>) -> Void) {
        guard let wrapped = ManagerProcess.wrap(kind, correlation, payload) else {
            answer(.failure(ManagerError(.protocolViolation, "a manager request payload is not msgpack")))
            return
        }
        let way = way
        let server = server
        Task {
            do {
                let body: FrameBody
                switch way {
                case .parent(let supervisor):
                    guard let record = try supervisor().record(server) else {
                        throw ManagerError(.disconnected, "the manager process (worker \(server)) ended")
                    }
                    body = try await record.request(wrapped, timeout: nil)
                case .worker(let session):
                    body = try await session.request(wrapped, to: server, timeout: nil)
                }
                if body.envelope.kind == .error {
                    answer(.failure(ManagerError(remote: try body.decodePayload(RemoteError.self))))
                } else {
                    answer(.success(body.payload))
                }
            } catch let error as ManagerError {
                answer(.failure(error))
            } catch {
                answer(.failure(ManagerError(.disconnected, "the manager process (worker \(server)) did not answer: \(error)")))
            }
        }
    }

    func oneWay(_ kind: UInt8, correlation: UInt64, payload: [UInt8]) {
        guard let wrapped = ManagerProcess.wrap(kind, correlation, payload) else { return }
        switch way {
        case .parent(let supervisor):
            try? (try? supervisor())?.record(server)?.sendMessage(wrapped)
        case .worker(let session):
            let envelope = Envelope(.message, from: session.id, to: server)
            _ = try? session.sendLater(flushIfFull: false) { try $0.append(envelope, payload: wrapped) }
            session.runLoop?.wakeToFlush()
        }
    }
}
