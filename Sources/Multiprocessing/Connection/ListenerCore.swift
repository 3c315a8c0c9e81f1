#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import Synchronization

/// What a ``Listener`` runs: the accepting task, one task per handshake, and the queue of
/// outcomes ``Listener/accept(timeout:)`` takes from. Held by those tasks, not by the
/// listener's users: the listener's `deinit` closes it.
final class ListenerCore: Sendable {
    typealias Outcome = Result<Connection, AuthenticationError>

    private struct State {
        var closed = false
        /// Outcomes nobody took yet, oldest first.
        var outcomes: [Outcome] = []
        /// ``next(timeout:)`` calls waiting, oldest first.
        var waiters: [(id: UInt64, once: ResumeOnce<Outcome?>)] = []
        var handshakes: [UInt64: Task<Void, Never>] = [:]
        var acceptor: Task<Void, Never>?
        var nextID: UInt64 = 0
    }

    private let socket: FileDescriptor
    private let family: Int32
    private let key: SymmetricKey
    private let unixPath: String?
    private let authenticationTimeout: Duration
    private let maxPendingHandshakes: Int
    private let maxFrameSize: Int
    private let state = Mutex(State())

    /// Failed handshakes kept for ``next(timeout:)`` when nobody accepts; older ones are dropped.
    static let keptFailures = 64

    init(socket: FileDescriptor, family: Int32, key: SymmetricKey, unixPath: String?,
         authenticationTimeout: Duration, maxPendingHandshakes: Int, maxFrameSize: Int) {
        self.socket = socket
        self.family = family
        self.key = key
        self.unixPath = unixPath
        self.authenticationTimeout = authenticationTimeout
        self.maxPendingHandshakes = maxPendingHandshakes
        self.maxFrameSize = maxFrameSize
    }

    var isClosed: Bool { state.withLock { $0.closed } }
    var pendingHandshakes: Int { state.withLock { $0.handshakes.count } }

    // MARK: - Accepting

    func startAccepting() {
        state.withLock { state in
            state.acceptor = Task.detached { [self] in await acceptLoop() }
        }
    }

    private func acceptLoop() async {
        let poller: DescriptorWatcher
        do { poller = try ConnectionPoller.shared() } catch {
            RuntimeLog.error("[listener] cannot accept: \(error)")
            return
        }
        while !Task.isCancelled {
            guard await poller.wait(for: socket, .readable, until: nil) == .ready else { return }
            accepting: while true {
                // Under the lock: close() cannot close the socket in the middle of an accept.
                let accepted: Result<FileDescriptor, Errno>? = state.withLock { state in
                    state.closed ? nil : socket._accept(nonBlocking: true)
                }
                switch accepted {
                case nil: return
                case .success(let peer)?: startHandshake(peer)
                case .failure(.wouldBlock)?: break accepting
                case .failure(let errno)? where errno == .connectionAborted || errno == .interrupted: continue
                case .failure(let errno)?:
                    // Out of descriptors or memory: wait a little rather than spin on a readable socket.
                    RuntimeLog.warning("[listener] accept failed: \(errno); retrying in 100 ms")
                    try? await Task.sleep(for: .milliseconds(100))
                    break accepting
                }
            }
        }
    }

    private func startHandshake(_ peer: FileDescriptor) {
        let started = state.withLock { state -> Bool in
            guard !state.closed, state.handshakes.count < maxPendingHandshakes else { return false }
            state.nextID += 1
            let id = state.nextID
            // Inserted under the lock the task's end needs: the end always finds it.
            state.handshakes[id] = Task.detached { [self] in
                let outcome = await authenticate(peer)
                finishHandshake(id, outcome)
            }
            return true
        }
        if !started {
            if !isClosed { RuntimeLog.warning("[listener] \(maxPendingHandshakes) handshakes in progress: a new connection was closed") }
            _ = peer._close()
        }
    }

    /// Runs the handshake on `peer`: the connection that owns it, or the failure (`peer` closed).
    private func authenticate(_ peer: FileDescriptor) async -> Outcome {
        let address = peer._peerAddress().map { address -> String in
            address.path.map { $0.isEmpty ? "unnamed Unix socket" : $0 } ?? address.description
        }
        let stream = HandshakeStream(socket: peer, deadline: .now.advanced(by: authenticationTimeout),
                                     limit: authenticationTimeout, peer: try? address.get())
        do {
            try await Authentication.authenticatePeer(stream, key: key)
        } catch {
            _ = peer._close()
            return .failure(error)
        }
        if family != AF_UNIX { _ = peer._setOption(level: Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
        do {
            return .success(try Connection.adoptingSocket(peer, maxFrameSize: maxFrameSize))
        } catch {
            return .failure(stream.failure(.systemCallFailed, "the authenticated socket could not become a connection: \(error)"))
        }
    }

    private func finishHandshake(_ id: UInt64, _ outcome: Outcome) {
        state.withLock { _ = $0.handshakes.removeValue(forKey: id) }
        if case .failure(let error) = outcome, error.code == .cancelled { return }
        deliver(outcome)
    }

    private enum Delivery {
        case closed, queued
        case waiter(ResumeOnce<Outcome?>)
    }

    /// Hands `outcome` to the oldest waiter, or queues it.
    private func deliver(_ outcome: Outcome) {
        while true {
            let delivery = state.withLock { state -> Delivery in
                if state.closed { return .closed }
                if !state.waiters.isEmpty { return .waiter(state.waiters.removeFirst().once) }
                state.outcomes.append(outcome)
                if state.outcomes.count > Self.keptFailures,
                   let oldest = state.outcomes.firstIndex(where: { if case .failure = $0 { true } else { false } }) {
                    state.outcomes.remove(at: oldest)
                }
                return .queued
            }
            switch delivery {
            case .queued: return
            case .closed:
                if case .success(let connection) = outcome { connection.close() }
                return
            case .waiter(let once):
                if once.resume(returning: outcome) { return }
                // That waiter had just timed out or been cancelled: the next one, or the queue.
            }
        }
    }

    // MARK: - Taking

    func next(timeout: Duration?) async throws -> Connection {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: max($0, .zero)) }
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let result: TimedOutcome<Outcome?> = await TimedWait.wait(until: deadline, onEnd: { [self] ended in
            if case .value = ended { return }
            state.withLock { $0.waiters.removeAll { $0.id == id } }
        }) { once in
            enum Ready { case closed, outcome(Outcome), waiting }
            let ready = state.withLock { state -> Ready in
                if state.closed { return .closed }
                if !state.outcomes.isEmpty { return .outcome(state.outcomes.removeFirst()) }
                state.waiters.append((id, once))
                return .waiting
            }
            switch ready {
            case .waiting: break
            case .closed: once.resume(returning: nil)
            case .outcome(let outcome):
                // Cancelled before it waited: the outcome stays for the next caller.
                if !once.resume(returning: outcome) { deliver(outcome) }
            }
        }
        switch result {
        case .value(let outcome?): return try outcome.get()
        case .value(nil): throw ConnectionError(.closed, "the listener is closed")
        case .timedOut: throw ConnectionError(.timedOut, "no authenticated connection within \(timeout ?? .zero)")
        case .cancelled: throw CancellationError()
        }
    }

    // MARK: - Closing

    func close() {
        let taken = state.withLock { state -> State? in
            if state.closed { return nil }
            state.closed = true
            let taken = state
            state.outcomes = []
            state.waiters = []
            state.handshakes = [:]
            state.acceptor = nil
            return taken
        }
        guard let taken else { return }
        taken.acceptor?.cancel()
        ConnectionPoller.running?.interrupt([socket])   // the accepting task's wait ends now
        _ = socket._close()
        if let unixPath, !unixPath.isEmpty { _ = _unlinkFile(unixPath) }
        for handshake in taken.handshakes.values { handshake.cancel() }
        for waiter in taken.waiters { waiter.once.resume(returning: nil) }
        for case .success(let connection) in taken.outcomes { connection.close() }
    }
}
