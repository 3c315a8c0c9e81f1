import Synchronization

/// Remote workers' door into a supervisor: a process on another host (a
/// ``RemoteWorkerLauncher``) connects to ``address`` with the authkey, and its worker joins
/// this supervisor as one of its children: an id of its own, requests and messages from the
/// parent and from other workers, queues and managers, monitors told when it ends, listed
/// among the active children. Made by ``Multiprocessing/serveWorkers(on:authkey:liveness:runtime:)``.
///
/// ```swift
/// let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "0.0.0.0", port: 7000), authkey: key)
/// // on another host: try await RemoteWorkerLauncher(connectingTo: .tcp(host: "head", port: 7000),
/// //                                                authkey: key, worker: Tally.self).run()
/// let worker = try await server.nextWorker(timeout: .seconds(30))
/// let sum: Int = try await worker.request(5)
/// server.close()   // every remote worker is disconnected
/// ```
///
/// A connection is, in order: the authentication handshake (HMAC-SHA256 both ways, as
/// ``Listener``), the launcher's join frame (the worker's name), then the ordinary child
/// protocol (hello, welcome, frames) spoken by the worker process itself. A remote worker has
/// no process here: ``ChildProcess/terminate()`` closes the supervisor's writing side (its
/// mailbox ends), ``ChildProcess/kill()`` closes the connection; it ends with its connection,
/// with the status its goodbye gave, else ``TerminationStatus/disconnected``. A peer that goes
/// silent (a partition, a host that lost power) is noticed by ``RemoteLiveness``.
public final class WorkerServer: Sendable, CustomStringConvertible {
    /// Where launchers connect (a TCP port 0 shows the port picked).
    public var address: ListenerAddress { front?.address ?? listener.address }
    private let listener: Listener
    /// With TLS: the TCP side, in front of the listener (then on a Unix socket of this process).
    private let front: TLSFront?
    private let supervisor: SupervisorCore
    private let liveness: RemoteLiveness
    private let handshakeTimeout: Duration
    private let state = Mutex(State())

    private struct State {
        var closed = false
        /// Joined and not yet taken by ``nextWorker(timeout:)``.
        var joined: [ChildProcess] = []
        var waiters: [UInt64: ResumeOnce<ChildProcess?>] = [:]
        var nextWaiter: UInt64 = 0
        /// Every worker that joined, until it ended (pruned as others join).
        var members: [ChildProcess] = []
        var acceptor: Task<Void, Never>?
        /// Connections refused after authentication (no join, a bad one, a failed hello).
        var refused = 0
    }

    init(listener: Listener, front: TLSFront?, supervisor: SupervisorCore, liveness: RemoteLiveness, handshakeTimeout: Duration) {
        self.listener = listener
        self.front = front
        self.supervisor = supervisor
        self.liveness = liveness
        self.handshakeTimeout = handshakeTimeout
        let acceptor = Task.detached { [self] in await acceptLoop() }
        state.withLock { $0.acceptor = acceptor }
        supervisor.registerForShutdown { [weak self] in self?.close() }
    }

    /// The remote workers connected now.
    public var activeWorkers: [ChildProcess] { state.withLock { $0.members.filter(\.isAlive) } }

    /// How many connections were refused after their authentication (no join frame, a bad one,
    /// no hello within the handshake timeout): each is reported on standard error.
    public var refusedCount: Int { state.withLock { $0.refused } }

    /// The next worker that joined (in the order they joined), once its handshake is done;
    /// each is handed out once. Throws ``ProcessError/Code/timedOut`` when `timeout` (nil: none)
    /// passes first, ``ProcessError/Code/closed`` once the server is closed.
    public func nextWorker(timeout: Duration? = nil) async throws -> ChildProcess {
        guard let worker = try await next(timeout: timeout) else {
            throw ProcessError(.closed, "the worker server at \(address) is closed")
        }
        return worker
    }

    /// The workers as they join, until the server is closed (one consumer: each worker is
    /// handed out once, here or by ``nextWorker(timeout:)``).
    public var workers: Workers { Workers(server: self) }

    /// The workers of a ``WorkerServer`` as they join.
    public struct Workers: AsyncSequence, Sendable {
        public typealias Element = ChildProcess
        let server: WorkerServer
        public struct AsyncIterator: AsyncIteratorProtocol {
            let server: WorkerServer
            public mutating func next() async throws -> ChildProcess? { try await server.next(timeout: nil) }
        }
        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(server: server) }
    }

    /// Stops accepting and disconnects every remote worker (their launchers see the end and
    /// restart them by their policy, connecting again until they give up). Closing again does
    /// nothing.
    public func close() {
        let (acceptor, members, waiters) = state.withLock { state -> (Task<Void, Never>?, [ChildProcess], [ResumeOnce<ChildProcess?>]) in
            if state.closed { return (nil, [], []) }
            state.closed = true
            defer { state.acceptor = nil; state.waiters = [:]; state.joined = [] }
            return (state.acceptor, state.members + state.joined, Array(state.waiters.values))
        }
        acceptor?.cancel()
        front?.close()
        listener.close()
        for member in members { member.kill() }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    public var description: String { "WorkerServer(\(address), \(activeWorkers.count) workers)" }

    // MARK: internals

    private func next(timeout: Duration?) async throws -> ChildProcess? {
        let token = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let outcome: TimedOutcome<ChildProcess?> = await TimedWait.wait(
            until: timeout.map { ContinuousClock.now.advanced(by: $0) }, timer: supervisor.loop.timedWaitTimer,
            onEnd: { [self] outcome in
                if case .value = outcome { return }
                _ = state.withLock { $0.waiters.removeValue(forKey: token) }
            }
        ) { once in
            let ready = state.withLock { state -> ChildProcess?? in
                if !state.joined.isEmpty { return .some(state.joined.removeFirst()) }
                if state.closed { return .some(nil) }
                state.waiters[token] = once
                return nil
            }
            if let ready, !once.resume(returning: ready), let worker = ready {
                state.withLock { $0.joined.insert(worker, at: 0) }
            }
        }
        switch outcome {
        case .value(let worker): return worker
        case .timedOut: throw ProcessError(.timedOut, "no remote worker joined \(address) within \(timeout ?? .zero)")
        case .cancelled: throw CancellationError()
        }
    }

    private func acceptLoop() async {
        while !Task.isCancelled {
            let connection: Connection
            do {
                connection = try await listener.accept()
            } catch let error as AuthenticationError {
                RuntimeLog.warning("[workers] a connection to \(address) was refused: \(error)", metadata: ["peer": "\(error.peer ?? "?")"])
                continue
            } catch {
                return   // closed or cancelled
            }
            // Each joins on its own: a slow or silent peer delays nobody.
            Task { await self.join(connection) }
        }
    }

    private func refuse(_ connection: Connection, _ reason: String) {
        connection.close()
        state.withLock { $0.refused += 1 }
        RuntimeLog.warning("[workers] an authenticated connection to \(address) was disconnected: \(reason)")
    }

    /// The join frame, the socket handed to the supervisor, the hello: a worker, delivered.
    private func join(_ connection: Connection) async {
        let join: RemoteJoin
        do {
            join = try RemoteJoin(body: try await connection.receiveBytes(timeout: handshakeTimeout))
        } catch {
            return refuse(connection, "\(error)")
        }
        do {
            try await connection.send(bytes: RemoteJoin.acceptedBody)
        } catch {
            return refuse(connection, "the answer to its join could not be sent: \(error)")
        }
        guard !state.withLock({ $0.closed }), let socket = connection.takeSocket() else { return connection.close() }
        liveness.apply(to: socket)
        let record: ChildRecord
        do {
            record = try await supervisor.adoptRemote(socket: socket, name: join.name)
            try await record.handshake(timeout: handshakeTimeout)
        } catch {
            state.withLock { $0.refused += 1 }
            RuntimeLog.warning("[workers] \(join.name) from \(join.host) could not join \(address): \(error)")
            return
        }
        let worker = ChildProcess(record)
        RuntimeLog.debug("[workers] \(join.name) (pid \(record.pid) on \(join.host)) joined as worker \(record.id)")
        let (waiter, closed) = state.withLock { state -> (ResumeOnce<ChildProcess?>?, Bool) in
            if state.closed { return (nil, true) }
            state.members.removeAll { !$0.isAlive }
            state.members.append(worker)
            if let token = state.waiters.keys.min() { return (state.waiters.removeValue(forKey: token), false) }
            state.joined.append(worker)
            return (nil, false)
        }
        if closed { return worker.kill() }
        if let waiter, !waiter.resume(returning: worker) {
            state.withLock { $0.joined.insert(worker, at: 0) }
        }
    }
}

extension WorkerServer {
    /// A server of remote workers for `supervisor` on `address`; ``ProcessError/Code/invalidArgument``
    /// for an empty key or an address that cannot be listened on (in use, a Unix path's
    /// directory missing), with the reason.
    static func serve(on address: ListenerAddress, authkey: [UInt8], supervisor: SupervisorCore, liveness: RemoteLiveness,
                      handshakeTimeout: Duration, tls: RemoteTLS?) async throws(ProcessError) -> WorkerServer {
        let listener: Listener
        let front: TLSFront?
        do {
            (listener, front) = try await TLSFront.listening(on: address, authkey: authkey, authenticationTimeout: AuthenticationLimits.defaultTimeout,
                                                             tls: tls, liveness: liveness, loop: supervisor.loop)
        } catch {
            throw ProcessError(.invalidArgument, "remote workers cannot be served on \(address)\(tls == nil ? "" : " with TLS"): \(error)")
        }
        return WorkerServer(listener: listener, front: front, supervisor: supervisor, liveness: liveness, handshakeTimeout: handshakeTimeout)
    }
}
