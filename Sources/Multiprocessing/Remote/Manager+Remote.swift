/// A manager over a socket: served on an address by the process that runs it, used from any
/// process (on any host) that holds the authkey. Python's `BaseManager(address, authkey)`'s
/// `get_server()` and `connect()`.
extension Manager {
    /// Serves this manager on `address` to every client that connects with `authkey` (not
    /// empty), until the returned server is closed: the same objects as this process tree's
    /// (a named dictionary made here is found there). Call it in the process that runs the
    /// manager (the one that called bootstrap); elsewhere it throws
    /// ``ManagerError/Code/invalidArgument``. Also ``ManagerError/Code/invalidArgument`` for an
    /// address that cannot be listened on (in use, a Unix path's directory missing), with the
    /// reason.
    ///
    /// ```swift
    /// let server = try await Manager().serve(on: .tcp(host: "0.0.0.0", port: 6000), authkey: key)
    /// ```
    ///
    /// With `tls` (a ``RemoteTLS/server(certificateChain:privateKey:)``, TCP only) clients must
    /// speak TLS and the authkey's handshake runs inside it.
    @discardableResult
    public func serve(on address: ListenerAddress, authkey: [UInt8],
                      authenticationTimeout: Duration = AuthenticationLimits.defaultTimeout,
                      liveness: RemoteLiveness = .default, tls: RemoteTLS? = nil) async throws(ManagerError) -> ManagerServer {
        guard let objects = await serverObjects() else {
            throw ManagerError(.invalidArgument, "serve the manager from the process that runs it (the one that called bootstrap): this process reaches it through \(client.transport.endpoint ?? "its supervisor")")
        }
        let listener: Listener
        let front: TLSFront?
        do {
            (listener, front) = try await TLSFront.listening(on: address, authkey: authkey, authenticationTimeout: authenticationTimeout,
                                                             tls: tls, liveness: liveness, loop: objects.loop)
        } catch {
            throw ManagerError(.invalidArgument, "the manager cannot be served on \(address)\(tls == nil ? "" : " with TLS"): \(error)")
        }
        return ManagerServer(listener: listener, front: front, objects: objects, liveness: liveness)
    }

    /// The objects of this manager when it runs in this process.
    private func serverObjects() async -> ManagerObjects? {
        let found: ManagerServer.LoopBound? = await withCheckedContinuation { continuation in
            let runs = client.transport.onServer { objects in continuation.resume(returning: ManagerServer.LoopBound(objects: objects)) }
            if !runs { continuation.resume(returning: nil) }
        }
        return found?.objects
    }

    /// The manager served at `address`, as a client whose proxies decode through `clients`
    /// (a proxy of it decoded in this process finds this connection).
    static func connect(to address: ListenerAddress, authkey: [UInt8], timeout: Duration, liveness: RemoteLiveness,
                        tls: RemoteTLS? = nil, clients: ManagerClients) async throws(ManagerError) -> Manager {
        let transport = try await SocketManagerTransport.connect(to: address, authkey: authkey, timeout: timeout,
                                                                 liveness: liveness, tls: tls)
        let client = ManagerClient(transport: transport)
        clients.add(client)
        transport.whenEnded { [weak client] in
            // Forgotten unless a later connect to the same address replaced it.
            if let client, let endpoint = client.transport.endpoint, (try? clients.client(for: endpoint)) === client {
                clients.remove(endpoint: endpoint)
            }
        }
        return Manager(client: client, clients: clients)
    }

    /// Closes the connection of a manager reached by
    /// ``connect(to:authkey:timeout:liveness:)``: calls in flight and later ones fail with
    /// ``ManagerError/Code/disconnected``, and the server releases what this process held.
    /// Does nothing for the runtime's own manager.
    public func disconnect() {
        (client.transport as? SocketManagerTransport)?.close()
    }
}
