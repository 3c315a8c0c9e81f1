import NIOCore
import NIOPosix

/// The remote side of a ``WorkerServer``: connects to a supervisor's address with the authkey,
/// starts one worker process on this host whose channel is that connection (its fds 3 and 4
/// are the socket), and when the worker ends, connects again and starts it again by its
/// ``RestartPolicy``, at most `intensity` times within `period` (as a ``Supervisor``). The
/// worker is an unchanged child: an entry of this program (or of another executable that
/// registers it), or a foreign executable that speaks the protocol (Protocols/python/worker.py).
///
/// ```swift
/// // main.swift of the program on the remote host:
/// try await Multiprocessing.bootstrap(workers: [Tally.self])
/// let launcher = RemoteWorkerLauncher(connectingTo: .tcp(host: "head.example", port: 7000),
///                                     authkey: key, worker: Tally.self)
/// let status = try await launcher.run()   // until the policy says stop, or it gives up
/// ```
///
/// When the connection cannot be made (refused, unreachable, a partition) it retries with a
/// doubling backoff until `giveUpAfter` has passed without a connection
/// (``RemoteWorkerError/Code/unreachable``). A wrong key is
/// ``RemoteWorkerError/Code/authentication`` at once. When the connection drops under a running
/// worker, the worker reads the end of its channel (or its keepalive fails, ``RemoteLiveness``)
/// and exits; that is one restart. The worker gets the parent-death signal as local children
/// do: killing the launcher kills it. Call bootstrap first in the launcher's program: the
/// worker is this program started again (a foreign executable through its trampoline).
public struct RemoteWorkerLauncher: Sendable {
    /// What the worker process runs.
    public enum Program: Sendable, Hashable {
        /// An entry (a ``Worker`` or a function) of `executable`, this program when nil.
        case entry(String, executable: String? = nil)
        /// A foreign executable that speaks the protocol, with its arguments.
        case executable(String, arguments: [String])
    }

    /// What the launcher reports as it goes (``onEvent``).
    public enum Event: Sendable, Hashable {
        /// Connected and accepted; the worker process is starting.
        case connected
        /// The worker process started with this pid.
        case started(pid: Int32)
        /// The worker process ended.
        case exited(TerminationStatus)
        /// Connecting failed; the next attempt is after the delay.
        case retrying(reason: String, after: Duration)
    }

    public var address: ListenerAddress
    public var authkey: [UInt8]
    public var program: Program
    /// The worker's name on the supervisor's side.
    public var name: String
    public var restart: RestartPolicy
    /// Restarts allowed within ``period`` before the launcher gives up.
    public var intensity: Int
    public var period: Duration
    /// The first delay between connection attempts; it doubles up to ``maximumBackoff``.
    public var backoff: Duration = .milliseconds(100)
    public var maximumBackoff: Duration = .seconds(5)
    /// How long connecting may keep failing before the launcher gives up.
    public var giveUpAfter: Duration = .seconds(60)
    /// Connecting, authenticating and the join must finish within this.
    public var connectTimeout: Duration = .seconds(10)
    /// Keepalive limits on the connection (the worker inherits the socket with them).
    public var liveness: RemoteLiveness = .default
    /// The worker's environment; this process's when nil (the runtime adds its `MP_` variables).
    public var environment: [String: String]?
    /// TLS to a server of workers served with TLS (``RemoteTLS/client(trustRoots:serverName:)``):
    /// the launcher keeps the TLS connection and hands its worker the plain end of a local
    /// socket pair, so the worker speaks the protocol as over any socket.
    public var tls: RemoteTLS?
    /// Called with each event, on the launcher's task.
    public var onEvent: @Sendable (Event) -> Void = { _ in }

    /// A launcher for `program` (the worker's name defaults to the entry's, with this host's).
    public init(connectingTo address: ListenerAddress, authkey: [UInt8], program: Program, name: String? = nil,
                restart: RestartPolicy = .permanent, intensity: Int = 3, period: Duration = .seconds(5)) {
        self.address = address
        self.authkey = authkey
        self.program = program
        let base: String
        switch program {
        case .entry(let entry, _): base = entry
        case .executable(let path, _): base = path.split(separator: "/").last.map(String.init) ?? path
        }
        self.name = name ?? "\(base)@\(ProcessControl.hostName)"
        self.restart = restart
        self.intensity = intensity
        self.period = period
    }

    /// A launcher for the ``Worker`` `worker`, an entry of this program.
    public init<W: Worker>(connectingTo address: ListenerAddress, authkey: [UInt8], worker: W.Type, name: String? = nil,
                           restart: RestartPolicy = .permanent, intensity: Int = 3, period: Duration = .seconds(5)) {
        self.init(connectingTo: address, authkey: authkey, program: .entry(W.entryName), name: name,
                  restart: restart, intensity: intensity, period: period)
    }

    /// Runs the worker until its restart policy says stop (returns how its last run ended: a
    /// `.temporary` worker's first end, a `.transient` one's `exit(0)`), or throws
    /// ``RemoteWorkerError``: ``RemoteWorkerError/Code/authentication``,
    /// ``RemoteWorkerError/Code/unreachable``, ``RemoteWorkerError/Code/intensityExceeded``,
    /// ``RemoteWorkerError/Code/spawnFailed``. Cancelling the task kills the worker and throws
    /// `CancellationError`.
    @discardableResult
    public func run() async throws -> TerminationStatus {
        guard !authkey.isEmpty, intensity >= 0 else {
            throw RemoteWorkerError(.invalidArgument, "a launcher needs a non-empty authkey and an intensity of 0 or more")
        }
        // One thread spawns every incarnation and lives as long as this call: the workers'
        // parent-death signal is tied to the spawning thread.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let reaper: Reaper
        do { reaper = try Reaper() } catch {
            try? await group.shutdownGracefully()
            throw RemoteWorkerError(.spawnFailed, "the launcher could not start its reaper: \(error)")
        }
        defer { reaper.stop() }
        do {
            let status = try await supervise(on: group.next(), reaper: reaper)
            try? await group.shutdownGracefully()
            return status
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func supervise(on loop: any EventLoop, reaper: Reaper) async throws -> TerminationStatus {
        let clock = ContinuousClock()
        var restarts: [ContinuousClock.Instant] = []
        while true {
            let socket = try await connect(tunnelOn: loop)
            let status = try await runWorker(socket, on: loop, reaper: reaper)
            onEvent(.exited(status))
            switch restart {
            case .temporary: return status
            case .transient where status == .exited(0): return status
            default: break
            }
            let now = clock.now
            restarts.append(now)
            restarts.removeAll { now - $0 > period }
            guard restarts.count <= intensity else {
                throw RemoteWorkerError(.intensityExceeded, "\(name) ended more than \(intensity) time(s) within \(period) (last: \(status))", lastStatus: status)
            }
        }
    }

    /// Connects, authenticates and joins, retrying with backoff; the accepted socket (blocking,
    /// with the liveness limits).
    private func connect(tunnelOn loop: any EventLoop) async throws -> FileDescriptor {
        let clock = ContinuousClock()
        let start = clock.now
        var delay = backoff
        while true {
            try Task.checkCancellation()
            let reason: String
            do {
                let connection: Connection
                if let tls {
                    do {
                        connection = try await TLSTunnel.authenticatedConnection(to: address, authkey: authkey, tls: tls, timeout: connectTimeout,
                                                                                 liveness: liveness, loop: loop)
                    } catch let error as TLSHandshakeError {
                        throw RemoteWorkerError(.authentication, "the TLS handshake with the worker server at \(address) failed: \(error)")
                    }
                } else {
                    connection = try await Client(address: address, authkey: authkey, timeout: connectTimeout)
                }
                do {
                    let join = RemoteJoin(version: RemoteJoin.currentVersion, name: name, host: ProcessControl.hostName, launcher: ProcessControl.id)
                    try await connection.send(bytes: try join.body())
                    let answer = try await connection.receiveBytes(timeout: connectTimeout)
                    guard RemoteJoin.isAccepted(answer) else {
                        throw ProcessError(.handshakeFailed, "the server at \(address) did not accept the join (is it a worker server?)")
                    }
                } catch {
                    connection.close()
                    throw error
                }
                guard let socket = connection.takeSocket() else {
                    connection.close()
                    throw ProcessError(.invalidArgument, "the connection to \(address) is not a socket")
                }
                // The worker reads and writes it with blocking calls, as its pipes.
                try? socket.setNonBlocking(false)
                liveness.apply(to: socket)
                onEvent(.connected)
                return socket
            } catch let error as AuthenticationError {
                throw RemoteWorkerError(.authentication, "the worker server at \(address) refused the key: \(error)")
            } catch let error as RemoteWorkerError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                reason = "\(error)"
            }
            guard clock.now - start + delay <= giveUpAfter else {
                throw RemoteWorkerError(.unreachable, "the worker server at \(address) could not be reached for \(giveUpAfter): \(reason)")
            }
            onEvent(.retrying(reason: reason, after: delay))
            try await Task.sleep(for: delay)
            delay = min(delay * 2, maximumBackoff)
        }
    }

    /// Starts the worker on `socket` (closed here once the worker has its copies) and waits for
    /// its end; cancellation kills it.
    private func runWorker(_ socket: FileDescriptor, on loop: any EventLoop, reaper: Reaper) async throws -> TerminationStatus {
        let spawned: Result<ChildHandle, RemoteWorkerError> = (try? await loop.submit { spawn(socket) }.get())
            ?? .failure(RemoteWorkerError(.spawnFailed, "the launcher's spawning thread stopped"))
        _ = socket._close()
        let child = try spawned.get()
        onEvent(.started(pid: child.pid))
        defer { child.close() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TerminationStatus, Never>) in
                reaper.watch(child) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            child.send(.kill)
        }
    }

    /// Spawns the worker with the socket as fds 3 and 4 (on the spawning thread).
    private func spawn(_ socket: FileDescriptor) -> Result<ChildHandle, RemoteWorkerError> {
        var environment = self.environment ?? ProcessEnvironment.all()
        environment[ChildEnvironment.channel] = "3,4"
        environment[ChildEnvironment.parent] = String(ProcessControl.id)
        environment[ChildEnvironment.name] = name
        environment[ChildEnvironment.parentName] = nil
        environment[ChildEnvironment.daemon] = nil
        // No arena crosses hosts: the worker's shared values fail with arenaUnavailable.
        environment[ChildEnvironment.descriptors] = nil
        environment[ChildEnvironment.execute] = nil
        let executable: String
        var options = SpawnOptions(environment: nil, descriptors: [socket, socket])
        do {
            switch program {
            case .entry(let entry, let path):
                environment[ChildEnvironment.entry] = entry
                executable = try path ?? ProcessControl.currentExecutablePath()
            case .executable(let path, let arguments):
                environment[ChildEnvironment.entry] = nil
                // Through this program's trampoline: it sets the parent-death signal, then execs.
                environment[ChildEnvironment.execute] = path
                options.argument0 = path
                options.arguments = arguments
                executable = try ProcessControl.currentExecutablePath()
            }
        } catch {
            return .failure(RemoteWorkerError(.spawnFailed, "\(name): this program's path cannot be read: \(error)"))
        }
        options.environment = environment
        let pid: Int32
        switch Spawner._spawn(executable, options) {
        case .success(let value): pid = value
        case .failure(let error): return .failure(RemoteWorkerError(.spawnFailed, "\(name): cannot start \(executable): \(error)"))
        }
        do {
            return .success(ChildHandle(try PidFD.open(pid: pid)))
        } catch {
            return .failure(RemoteWorkerError(.spawnFailed, "\(name): pidfd_open(\(pid)) failed: \(error)"))
        }
    }
}
