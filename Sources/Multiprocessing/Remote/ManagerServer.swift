import MessagePack
import NIOCore
import NIOPosix
import Synchronization

/// A manager served on an address: every client that connects with the authkey uses the
/// same objects as the processes of the manager's own tree (Python's `BaseManager(address,
/// authkey).get_server()`). Made by ``Manager/serve(on:authkey:authenticationTimeout:liveness:)``.
///
/// ```swift
/// let manager = try Manager()
/// let server = try await manager.serve(on: .tcp(host: "0.0.0.0", port: 6000), authkey: key)
/// print("clients connect to \(server.address)")
/// // elsewhere: let remote = try await Manager.connect(to: .tcp(host: "server", port: 6000), authkey: key)
/// server.close()
/// ```
///
/// Each authenticated connection becomes a client of the manager with an id of its own
/// (``RemoteWire/welcome`` tells it), served on the manager's event loop like a child; when
/// it ends (closed, reset, or silent past its ``RemoteLiveness``), its references, waiting
/// calls and locks are released as a dead child's are.
public final class ManagerServer: Sendable, CustomStringConvertible {
    /// Where clients connect (a TCP port 0 shows the port picked).
    public var address: ListenerAddress { front?.address ?? listener.address }
    private let listener: Listener
    /// With TLS: the TCP side, in front of the listener (then on a Unix socket of this process).
    private let front: TLSFront?
    private let objects: LoopBound
    private let liveness: RemoteLiveness
    private let maxFrameSize: Int
    private let state = Mutex<(closed: Bool, channels: [UInt64: any Channel], acceptor: Task<Void, Never>?)>((false, [:], nil))
    /// The clients' sockets, for the spin after answers.
    private let sockets = ClientSockets()
    /// Keeps the loop awake for a moment after it answered a client: a client that calls
    /// again at once (a loop of calls) finds it awake instead of paying its wake-up.
    private let spinner: AnswerSpinner

    /// The manager's objects, touched on their loop only.
    struct LoopBound: @unchecked Sendable {
        let objects: ManagerObjects
    }

    init(listener: Listener, front: TLSFront? = nil, objects: ManagerObjects, liveness: RemoteLiveness) {
        self.listener = listener
        self.front = front
        self.objects = LoopBound(objects: objects)
        self.liveness = liveness
        maxFrameSize = listener.maxFrameSize
        spinner = AnswerSpinner(loop: objects.loop) { [sockets] in sockets.all }
        let acceptor = Task.detached { [self] in await acceptLoop() }
        state.withLock { $0.acceptor = acceptor }
    }

    /// The number of clients connected now.
    public var clientCount: Int { state.withLock { $0.channels.count } }

    /// Stops accepting and disconnects every client (what they held is released). Closing
    /// again does nothing; the manager itself serves on.
    public func close() {
        let (channels, acceptor) = state.withLock { state -> ([any Channel], Task<Void, Never>?) in
            if state.closed { return ([], nil) }
            state.closed = true
            defer { state.channels = [:]; state.acceptor = nil }
            return (Array(state.channels.values), state.acceptor)
        }
        acceptor?.cancel()
        front?.close()
        listener.close()
        for channel in channels { channel.close(promise: nil) }
    }

    public var description: String { "ManagerServer(\(address), \(clientCount) clients)" }

    private func acceptLoop() async {
        while !Task.isCancelled {
            let connection: Connection
            do {
                connection = try await listener.accept()
            } catch let error as AuthenticationError {
                RuntimeLog.warning("[manager] a client at \(address) was refused: \(error)", metadata: ["peer": "\(error.peer ?? "?")"])
                continue
            } catch {
                return   // closed or cancelled
            }
            await attach(connection)
        }
    }

    /// Hands an authenticated connection's socket to the manager's loop as a channel.
    private func attach(_ connection: Connection) async {
        guard let socket = connection.takeSocket() else { return }
        liveness.apply(to: socket)
        let id = objects.objects.nextSocketClientID()
        let name = "remote client \(id - (1 << 48)) (\(socket._peerAddress().map(\.description).get(or: "?")))"
        let objects = self.objects
        let maxFrameSize = self.maxFrameSize
        let spinner = self.spinner
        sockets.add(socket, for: id)
        do {
            // NIO owns the socket from here on, also when this fails.
            let channel = try await ClientBootstrap(group: objects.objects.loop)
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let link = RemoteLink(id: id, name: name)
                        let handler = RemotePeerHandler(objects: objects.objects, link: link, maxFrameSize: maxFrameSize,
                                                        answered: { spinner.spinSoon() }) { [weak self] id in
                            // On the loop, right after NIO closed the socket: no later spin looks at it.
                            self?.sockets.remove(id)
                            self?.state.withLock { _ = $0.channels.removeValue(forKey: id) }
                        }
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .withConnectedSocket(socket.rawValue)
                .get()
            let closed = state.withLock { state -> Bool in
                if !state.closed, channel.isActive { state.channels[id] = channel }
                return state.closed
            }
            if closed { channel.close(promise: nil) }
        } catch {
            sockets.remove(id)
            RuntimeLog.warning("[manager] an authenticated client at \(address) could not be served: \(error)")
        }
    }
}

/// The sockets of a server's clients, by client id.
private final class ClientSockets: Sendable {
    private let byID = Mutex<[UInt64: FileDescriptor]>([:])
    var all: [FileDescriptor] { byID.withLock { Array($0.values) } }
    func add(_ socket: FileDescriptor, for id: UInt64) { byID.withLock { $0[id] = socket } }
    func remove(_ id: UInt64) { _ = byID.withLock { $0.removeValue(forKey: id) } }
}

extension Result {
    /// The value, or `fallback` on failure.
    func get(or fallback: Success) -> Success {
        if case .success(let value) = self { return value }
        return fallback
    }
}
