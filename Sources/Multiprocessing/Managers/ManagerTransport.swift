import MessagePack
import NIOCore
import Synchronization

/// How a process reaches one manager: the manager of its own supervisor (in this process, or
/// over a worker's channel), or a manager at an address (a socket connection). Frames are the
/// manager protocol's (``ManagerWire``) whichever the way.
protocol ManagerTransport: Sendable {
    /// This process's id as that manager knows it (its peer id; 0 in the manager's process).
    var clientID: UInt64 { get }
    /// Where a proxy made through this transport is found: nil for "the supervisor of the
    /// process that decodes it", else the address a decoding process must be connected to.
    var endpoint: String? { get }
    /// A correlation no request of this transport has in flight.
    func nextCorrelation() -> UInt64
    /// Sends a request; `answer` is called once, with the reply's payload bytes or the error
    /// (``ManagerError/Code/disconnected`` when the manager is gone).
    func request(_ kind: UInt8, correlation: UInt64, payload: [UInt8], answer: @escaping @Sendable (Result<[UInt8], ManagerError>) -> Void)
    /// Sends a one-way frame (retain, release, transit, cancel); dropped when the manager is gone.
    func oneWay(_ kind: UInt8, correlation: UInt64, payload: [UInt8])
    /// Runs `body` with the manager's objects on its loop when the manager runs in this
    /// process; false (and nothing runs) otherwise.
    func onServer(_ body: @escaping @Sendable (ManagerObjects) -> Void) -> Bool
    /// Whether a caller on the current thread may look for its answer before it suspends
    /// (``ManagerClient/request(_:_:)``): only where another thread delivers it; never on the
    /// thread that must read it (a worker's run loop, the supervisor's loop).
    var callerMaySpin: Bool { get }
}

extension ManagerTransport {
    func onServer(_ body: @escaping @Sendable (ManagerObjects) -> Void) -> Bool { false }
    var callerMaySpin: Bool { false }
}

/// The way of the process that runs the supervisor: requests are handed to the service's
/// objects on the loop, in the order they were made, in batches (one loop task for however
/// many came meanwhile); answers come back through one link, client id 0.
final class ParentManagerTransport: ManagerTransport {
    private let service: @Sendable () throws(ManagerError) -> (ManagerService, any EventLoop)
    private let operations = Mutex<(list: [@Sendable (ManagerObjects, any ManagerLink) -> Void], scheduled: Bool)>(([], false))
    private let correlations = Atomic<UInt64>(1)
    private let link = LocalLink()

    /// `service` gives the runtime's manager service and the loop of its supervisor, started
    /// (asked on each batch; it throws when the supervisor cannot start).
    init(service: @escaping @Sendable () throws(ManagerError) -> (ManagerService, any EventLoop)) {
        self.service = service
    }

    var clientID: UInt64 { Envelope.supervisor }
    var endpoint: String? { nil }

    /// Answers come from the loop: a caller elsewhere may look for them.
    var callerMaySpin: Bool { (try? service())?.1.inEventLoop == false }

    func nextCorrelation() -> UInt64 { correlations.wrappingAdd(1, ordering: .relaxed).oldValue }

    private func submit(_ operation: @escaping @Sendable (ManagerObjects, any ManagerLink) -> Void) throws(ManagerError) {
        let (server, loop) = try service()
        let schedule = operations.withLock { state -> Bool in
            state.list.append(operation)
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        if schedule { loop.execute { [self] in runQueued(server) } }
    }

    private func runQueued(_ server: ManagerService) {
        while true {
            let list = operations.withLock { state -> [@Sendable (ManagerObjects, any ManagerLink) -> Void] in
                defer { state.list.removeAll(keepingCapacity: true) }
                if state.list.isEmpty { state.scheduled = false }
                return state.list
            }
            if list.isEmpty { break }
            guard let objects = server.objects else {
                link.failAll(ManagerError(.stopped, "the supervisor that runs the manager stopped"))
                continue
            }
            for operation in list { operation(objects, link) }
        }
    }

    func request(_ kind: UInt8, correlation: UInt64, payload: [UInt8], answer: @escaping @Sendable (Result<[UInt8], ManagerError>) -> Void) {
        link.expect(correlation, answer)
        do {
            try submit { objects, link in
                payload.withUnsafeBytes { objects.receive(kind: kind, correlation: correlation, payload: $0, from: link) }
            }
        } catch {
            link.answer(.failure(error), correlation: correlation)
        }
    }

    func oneWay(_ kind: UInt8, correlation: UInt64, payload: [UInt8]) {
        try? submit { objects, link in
            payload.withUnsafeBytes { objects.receive(kind: kind, correlation: correlation, payload: $0, from: link) }
        }
    }

    /// Runs in order with the requests: a type registered before a create is known to it.
    func onServer(_ body: @escaping @Sendable (ManagerObjects) -> Void) -> Bool {
        do {
            try submit { objects, _ in body(objects) }
            return true
        } catch {
            return false
        }
    }

    /// The supervisor's process as a client: answers go straight to the waiting handlers.
    private final class LocalLink: ManagerLink, Sendable {
        var id: UInt64 { Envelope.supervisor }
        var name: String { "the supervisor's process" }
        private let handlers = Mutex<[UInt64: @Sendable (Result<[UInt8], ManagerError>) -> Void]>([:])

        func expect(_ correlation: UInt64, _ handler: @escaping @Sendable (Result<[UInt8], ManagerError>) -> Void) {
            handlers.withLock { $0[correlation] = handler }
        }

        func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64) {
            handlers.withLock { $0.removeValue(forKey: correlation) }?(result)
        }

        func failAll(_ error: ManagerError) {
            for handler in handlers.withLock({ table in defer { table = [:] }; return table.values }) { handler(.failure(error)) }
        }
    }
}

/// A worker's way to its supervisor's manager: frames over its channel. One-way frames wait
/// in the session's pending output and leave with the next write; requests leave at once, and
/// their answers are handled on the run loop's thread.
final class WorkerManagerTransport: ManagerTransport {
    let session: ChildSession

    init(session: ChildSession) { self.session = session }

    var clientID: UInt64 { session.id }
    var endpoint: String? { nil }

    func nextCorrelation() -> UInt64 { session.nextCorrelation() }

    func request(_ kind: UInt8, correlation: UInt64, payload: [UInt8], answer: @escaping @Sendable (Result<[UInt8], ManagerError>) -> Void) {
        let frame = ManagerWire.request(kind, source: session.id, correlation: correlation, payload: payload)
        session.sendRequest(frame, correlation: correlation) { result in
            switch result {
            case .success(let body):
                if body.envelope.kind == .error {
                    let remote = (try? body.decodePayload(RemoteError.self)) ?? RemoteError(typeName: "ManagerError.protocolViolation", message: "an error answer without a RemoteError")
                    answer(.failure(ManagerError(remote: remote)))
                } else {
                    answer(.success(body.payload))
                }
            case .failure(let error):
                answer(.failure(ManagerError(.disconnected, "the channel to the supervisor that runs the manager closed: \(error)")))
            }
        }
    }

    func oneWay(_ kind: UInt8, correlation: UInt64, payload: [UInt8]) {
        let envelope = Envelope(Envelope.Kind(rawValue: UInt64(kind)), from: session.id, to: Envelope.supervisor, correlation: correlation)
        _ = try? session.sendLater(flushIfFull: false) { writer in
            try payload.withUnsafeBytes { try writer.append(envelope, rawPayload: $0) }
        }
        session.runLoop?.wakeToFlush()
    }
}
