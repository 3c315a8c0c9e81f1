import MessagePack
import Synchronization

/// A process's way to a manager at an address: manager frames over an authenticated socket
/// ``Connection``. Requests are written by the calling thread (one at a time, under a lock);
/// one reader thread receives every answer and hands it to the request that waits for it, by
/// correlation. When the connection ends (closed, reset, or silent past its
/// ``RemoteLiveness``), every call in flight and every later one fails with
/// ``ManagerError/Code/disconnected``.
final class SocketManagerTransport: ManagerTransport {
    let clientID: UInt64
    let endpoint: String?
    private let connection: Connection
    private let correlations = Atomic<UInt64>(1)
    private let pending = Mutex(Pending())
    /// Sends are one at a time (a connection end has one sender).
    private let sending = Mutex(())

    private struct Pending {
        var handlers: [UInt64: @Sendable (Result<[UInt8], ManagerError>) -> Void] = [:]
        /// Set once the connection ended: every later request fails with it.
        var ended: ManagerError?
        /// Called once when the connection ended.
        var onEnd: (@Sendable () -> Void)?
    }

    private init(connection: Connection, clientID: UInt64, endpoint: String) {
        self.connection = connection
        self.clientID = clientID
        self.endpoint = endpoint
    }

    /// Connects to the manager served at `address`, authenticates with `authkey` and reads the
    /// server's welcome, within `timeout`; starts the reader thread.
    static func connect(to address: ListenerAddress, authkey: [UInt8], timeout: Duration,
                        liveness: RemoteLiveness) async throws(ManagerError) -> SocketManagerTransport {
        let connection: Connection
        do {
            connection = try await Client(address: address, authkey: authkey, timeout: timeout)
        } catch {
            throw ManagerError(connecting: address, error)
        }
        if let socket = try? connection.fileno { liveness.apply(to: FileDescriptor(rawValue: socket)) }
        let clientID: UInt64
        do {
            clientID = try RemoteWire.clientID(fromWelcome: try await connection.receiveBytes(timeout: timeout))
        } catch {
            connection.close()
            throw (error as? ManagerError) ?? ManagerError(connecting: address, error)
        }
        let transport = SocketManagerTransport(connection: connection, clientID: clientID, endpoint: address.description)
        do {
            try OSThread.start(name: "mp-manager-reader") { [transport] in transport.readAnswers() }
        } catch {
            connection.close()
            throw ManagerError(.disconnected, "the reader thread of the connection to \(address) could not start: \(error)")
        }
        return transport
    }

    /// Calls `body` once when the connection ends (at once if it has ended).
    func whenEnded(_ body: @escaping @Sendable () -> Void) {
        let ended = pending.withLock { state -> Bool in
            if state.ended == nil { state.onEnd = body }
            return state.ended != nil
        }
        if ended { body() }
    }

    /// Closes the connection: calls in flight end with ``ManagerError/Code/disconnected``.
    func close() { connection.close() }

    func nextCorrelation() -> UInt64 { correlations.wrappingAdd(1, ordering: .relaxed).oldValue }

    func request(_ kind: UInt8, correlation: UInt64, payload: [UInt8], answer: @escaping @Sendable (Result<[UInt8], ManagerError>) -> Void) {
        let ended = pending.withLock { state -> ManagerError? in
            if let ended = state.ended { return ended }
            state.handlers[correlation] = answer
            return nil
        }
        if let ended { return answer(.failure(ended)) }
        if let failure = send(ManagerWire.request(kind, source: clientID, correlation: correlation, payload: payload)),
           let handler = pending.withLock({ $0.handlers.removeValue(forKey: correlation) }) {
            handler(.failure(failure))
        }
    }

    func oneWay(_ kind: UInt8, correlation: UInt64, payload: [UInt8]) {
        _ = send(ManagerWire.request(kind, source: clientID, correlation: correlation, payload: payload))
    }

    /// Writes one whole frame; the failure, if any.
    private func send(_ frame: [UInt8]) -> ManagerError? {
        do {
            try sending.withLock { _ throws(ConnectionError) in try connection.send(bytes: frame[4...]) }
            return nil
        } catch {
            return ManagerError(.disconnected, "the connection to the manager at \(endpoint ?? "?") failed: \(error)")
        }
    }

    /// The reader thread: every answer to its waiting request, until the connection ends.
    private func readAnswers() {
        let ending: ManagerError
        while true {
            let body: [UInt8]
            do {
                body = try connection.receiveBytes()
            } catch {
                ending = error.code == .closed
                    ? ManagerError(.disconnected, "the connection to the manager at \(endpoint ?? "?") was closed")
                    : ManagerError(.disconnected, "the connection to the manager at \(endpoint ?? "?") ended: \(error)")
                break
            }
            route(body)
        }
        connection.close()
        let (handlers, onEnd) = pending.withLock { state in
            state.ended = ending
            defer { state.handlers = [:]; state.onEnd = nil }
            return (Array(state.handlers.values), state.onEnd)
        }
        for handler in handlers { handler(.failure(ending)) }
        onEnd?()
    }

    private func route(_ body: [UInt8]) {
        let routed: (UInt64, Result<[UInt8], ManagerError>)? = body.withUnsafeBytes { raw in
            guard let split = try? Envelope.split(raw) else { return nil }
            let payload = Array(split.payload)
            switch split.envelope.kind {
            case .reply: return (split.envelope.correlation, .success(payload))
            case .error:
                let remote = (try? MessagePackDecoder().decode(RemoteError.self, from: payload))
                    ?? RemoteError(typeName: "ManagerError.protocolViolation", message: "an error answer without a RemoteError")
                return (split.envelope.correlation, .failure(ManagerError(remote: remote)))
            default: return nil
            }
        }
        guard let (correlation, result) = routed else {
            RuntimeLog.warning("[manager] a frame from the manager at \(endpoint ?? "?") that is not an answer was dropped")
            return
        }
        pending.withLock { $0.handlers.removeValue(forKey: correlation) }?(result)
    }
}

extension ManagerError {
    /// A failure to connect to a manager at `address`, by what failed: the key
    /// (``Code/authentication``), the time (``Code/timedOut``), the address
    /// (``Code/invalidArgument``), or the connection (``Code/disconnected``).
    init(connecting address: ListenerAddress, _ error: any Error) {
        if let error = error as? AuthenticationError {
            self.init(.authentication, "the manager at \(address) refused the authentication: \(error)")
        } else if let error = error as? ConnectionError, error.code == .timedOut {
            self.init(.timedOut, "connecting to the manager at \(address): \(error)")
        } else if let error = error as? ConnectionError, error.code == .invalidArgument {
            self.init(.invalidArgument, "the manager address \(address): \(error)")
        } else if error is CancellationError {
            self.init(.cancelled, "connecting to the manager at \(address) was cancelled")
        } else {
            self.init(.disconnected, "cannot connect to the manager at \(address): \(error)")
        }
    }
}
