import MessagePack
import NIOPosix
import Synchronization

/// A process's way to a manager at an address: manager frames over an authenticated socket
/// ``Connection``. Requests are written by the calling thread (one at a time, under a lock).
/// Answers are read by whoever holds the reading turn: a caller that just sent looks for its
/// answer on the socket itself for up to ``SpinPolicy/window`` (so a quick answer costs no
/// wake-up of another thread, nor of the caller's task: about 25 us each here), and hands the
/// turn to the reader thread when it did not come; the reader thread reads while answers are
/// owed and otherwise sleeps until a hand-off or the peer's end. When the connection ends
/// (closed, reset, or silent past its ``RemoteLiveness``), every call in flight and every
/// later one fails with ``ManagerError/Code/disconnected``.
final class SocketManagerTransport: ManagerTransport {
    let clientID: UInt64
    let endpoint: String?
    private let connection: Connection
    /// The socket, for polling while no one reads (never after ``Pending/closing``).
    private let socket: FileDescriptor
    /// Written to wake the reader thread (a hand-off, or a close); read by it.
    private let wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
    private let correlations = Atomic<UInt64>(1)
    private let pending = Mutex(Pending())
    /// Sends are one at a time (a connection end has one sender).
    private let sending = Mutex(())
    /// Whether callers look for their answers themselves (adaptive, as every spin).
    private let spin = Mutex(SpinPolicy())

    /// Who may read the socket now: one at a time, since a frame may come in pieces.
    private enum Reader { case none, caller, thread }

    private struct Pending {
        var handlers: [UInt64: @Sendable (Result<[UInt8], ManagerError>) -> Void] = [:]
        var reader = Reader.none
        /// ``close()`` was called: nobody polls the socket any more, the thread ends it.
        var closing = false
        /// Set once the connection ended: every later request fails with it.
        var ended: ManagerError?
        /// Called once when the connection ended.
        var onEnd: (@Sendable () -> Void)?
    }

    /// With TLS: the loop of the connection's tunnel, its own, shut down when the connection ends.
    private let tunnelGroup: MultiThreadedEventLoopGroup?

    private init(connection: Connection, socket: FileDescriptor, wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor),
                 tunnelGroup: MultiThreadedEventLoopGroup?, clientID: UInt64, endpoint: String) {
        self.connection = connection
        self.tunnelGroup = tunnelGroup
        self.socket = socket
        self.wake = wake
        self.clientID = clientID
        self.endpoint = endpoint
    }

    /// Connects to the manager served at `address`, authenticates with `authkey` and reads the
    /// server's welcome, within `timeout`; starts the reader thread.
    static func connect(to address: ListenerAddress, authkey: [UInt8], timeout: Duration,
                        liveness: RemoteLiveness, tls: RemoteTLS? = nil) async throws(ManagerError) -> SocketManagerTransport {
        let connection: Connection
        var tunnelGroup: MultiThreadedEventLoopGroup?
        if let tls {
            guard !tls.isServer else {
                throw ManagerError(.invalidArgument, "connecting with TLS needs RemoteTLS.client(trustRoots:serverName:), not a server's configuration")
            }
            // The tunnel's own loop, for as long as the connection lives (ended in readAnswers).
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            tunnelGroup = group
            do {
                connection = try await TLSTunnel.authenticatedConnection(to: address, authkey: authkey, tls: tls, timeout: timeout,
                                                                         liveness: liveness, loop: group.next())
            } catch let error as TLSHandshakeError {
                group.shutdownGracefully { _ in }
                throw ManagerError(.authentication, "the TLS handshake with the manager at \(address) failed: \(error)")
            } catch {
                group.shutdownGracefully { _ in }
                throw ManagerError(connecting: address, error)
            }
        } else {
            do {
                connection = try await Client(address: address, authkey: authkey, timeout: timeout)
            } catch {
                throw ManagerError(connecting: address, error)
            }
        }
        let socket: FileDescriptor
        let clientID: UInt64
        let wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do {
            socket = FileDescriptor(rawValue: try connection.fileno)
            liveness.apply(to: socket)
            clientID = try RemoteWire.clientID(fromWelcome: try await connection.receiveBytes(timeout: timeout))
            wake = try FileDescriptor.pipe(nonBlocking: true)
        } catch {
            connection.close()
            tunnelGroup?.shutdownGracefully { _ in }
            throw (error as? ManagerError) ?? ManagerError(connecting: address, error)
        }
        let transport = SocketManagerTransport(connection: connection, socket: socket, wake: wake, tunnelGroup: tunnelGroup,
                                               clientID: clientID, endpoint: address.description)
        do {
            try OSThread.start(name: "mp-manager-reader") { [transport] in transport.readAnswers() }
        } catch {
            connection.close()
            _ = wake.readEnd._close()
            _ = wake.writeEnd._close()
            tunnelGroup?.shutdownGracefully { _ in }
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
    func close() {
        let reading = pending.withLock { state -> Bool? in
            if state.closing || state.ended != nil { return nil }
            state.closing = true
            return state.reader != .none
        }
        guard let reading else { return }
        // A receive in progress is woken by the connection's close; a sleeping reader thread
        // by the wake pipe (it then closes the connection: nobody polls a closed socket).
        if reading { connection.close() }
        wakeReaderThread()
    }

    func nextCorrelation() -> UInt64 { correlations.wrappingAdd(1, ordering: .relaxed).oldValue }

    func request(_ kind: UInt8, correlation: UInt64, payload: [UInt8], answer: @escaping @Sendable (Result<[UInt8], ManagerError>) -> Void) {
        let wantsToSpin = spin.withLock { $0.shouldSpin() }
        let (ended, reads) = pending.withLock { state -> (ManagerError?, Bool) in
            if let ended = state.ended { return (ended, false) }
            if state.closing { return (ManagerError(.disconnected, "the connection to the manager at \(endpoint ?? "?") was closed"), false) }
            state.handlers[correlation] = answer
            guard wantsToSpin, state.reader == .none else { return (nil, false) }
            state.reader = .caller
            return (nil, true)
        }
        if let ended { return answer(.failure(ended)) }
        if let failure = send(ManagerWire.request(kind, source: clientID, correlation: correlation, payload: payload)),
           let handler = pending.withLock({ $0.handlers.removeValue(forKey: correlation) }) {
            handler(.failure(failure))
        }
        if reads { readAsCaller(awaiting: correlation) } else { handOffIfOwed() }
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

    /// A caller holding the reading turn: looks for the answer to `correlation` for up to the
    /// spin window, routes every whole frame that came, then gives the turn back (to the
    /// reader thread if answers are still owed). A failure of the connection is left to the
    /// reader thread, which ends it.
    private func readAsCaller(awaiting correlation: UInt64) {
        var found = false
        if FileDescriptor.spinPoll([socket], for: .readable, window: SpinPolicy.window) != nil {
            while true {
                let body: [UInt8]
                do {
                    body = try connection.receiveBytes(timeout: .zero)
                } catch {
                    break   // no whole frame yet (timedOut), or a failure the reader thread reports
                }
                route(body)
                if pending.withLock({ $0.handlers[correlation] == nil }) {
                    found = true
                    break
                }
            }
        }
        spin.withLock { $0.record(found: found) }
        pending.withLock { $0.reader = .none }
        handOffIfOwed()
    }

    /// Wakes the reader thread if answers are owed and nobody reads (or the connection closes).
    private func handOffIfOwed() {
        let owed = pending.withLock { state in state.reader == .none && (!state.handlers.isEmpty || state.closing) }
        if owed { wakeReaderThread() }
    }

    /// Under the lock: the thread closes the pipe once the connection ended.
    private func wakeReaderThread() {
        pending.withLock { state in
            guard state.ended == nil else { return }
            var byte: UInt8 = 1
            _ = withUnsafeBytes(of: &byte) { wake.writeEnd._write($0) }   // full: a wake-up is pending anyway
        }
    }

    /// The reader thread: reads while answers are owed and no caller reads; otherwise sleeps
    /// until a hand-off, a close, or the peer's end (`POLLRDHUP`: data alone does not wake it,
    /// a caller reads that). Ends the connection when it fails or is closed.
    private func readAnswers() {
        var ending: ManagerError?
        while ending == nil {
            enum Next { case read, sleep, close }
            let next = pending.withLock { state -> Next in
                if state.closing { return .close }
                guard state.reader == .none else { return .sleep }
                if state.handlers.isEmpty { return .sleep }
                state.reader = .thread
                return .read
            }
            switch next {
            case .close:
                ending = ManagerError(.disconnected, "the connection to the manager at \(endpoint ?? "?") was closed")
            case .sleep:
                let events: [PollEvents]
                switch FileDescriptor._poll([(socket, .peerClosed), (wake.readEnd, .readable)], timeout: nil) {
                case .success(let found): events = found
                case .failure(let error):
                    ending = ManagerError(.disconnected, "waiting on the connection to the manager at \(endpoint ?? "?") failed: \(error)")
                    continue
                }
                if !events[1].isEmpty { drainWakePipe() }
                if !events[0].isEmpty {
                    // The peer ended (or failed): read what is left, then learn how it ended.
                    ending = readWhileOwed(untilEnd: true)
                }
            case .read:
                ending = readWhileOwed(untilEnd: false)
            }
        }
        guard let ending else { return }
        connection.close()
        tunnelGroup?.shutdownGracefully { _ in }   // closes the tunnel's channels, then its thread
        let (handlers, onEnd) = pending.withLock { state in
            state.ended = ending
            _ = wake.readEnd._close()
            _ = wake.writeEnd._close()
            defer { state.handlers = [:]; state.onEnd = nil }
            return (Array(state.handlers.values), state.onEnd)
        }
        for handler in handlers { handler(.failure(ending)) }
        onEnd?()
    }

    /// Reads with the reader thread's turn (taken here when `untilEnd`, waiting for a caller
    /// that holds it) until no answer is owed, or until the connection ends when `untilEnd`;
    /// gives the turn back. Returns how the connection ended, nil if it did not.
    private func readWhileOwed(untilEnd: Bool) -> ManagerError? {
        if untilEnd {
            while true {
                let taken = pending.withLock { state -> Bool in
                    guard state.reader == .none else { return false }
                    state.reader = .thread
                    return true
                }
                if taken { break }
                _ = try? FileDescriptor.poll([wake.readEnd], for: .readable, timeout: .milliseconds(1))
                drainWakePipe()
            }
        }
        while true {
            if !untilEnd {
                let done = pending.withLock { state -> Bool in
                    guard state.handlers.isEmpty || state.closing else { return false }
                    state.reader = .none
                    return true
                }
                if done { return nil }
            }
            do {
                route(try connection.receiveBytes())
            } catch {
                return error.code == .closed
                    ? ManagerError(.disconnected, "the connection to the manager at \(endpoint ?? "?") was closed")
                    : ManagerError(.disconnected, "the connection to the manager at \(endpoint ?? "?") ended: \(error)")
            }
        }
    }

    private func drainWakePipe() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while case .success(let count) = bytes.withUnsafeMutableBytes({ wake.readEnd._read(into: $0) }), count == bytes.count {}
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
