extension Manager {
    /// The manager served at `address` by ``serve(on:authkey:authenticationTimeout:liveness:)``
    /// in another process or on another host, reached with `authkey`: the same API as the
    /// local manager, over the socket. Connecting, authenticating and the server's welcome
    /// must finish within `timeout`. Proxies of it sent to another process work there once
    /// that process connected to the same address (written the same way).
    ///
    /// ```swift
    /// let remote = try await Manager.connect(to: .tcp(host: "10.0.0.5", port: 6000), authkey: key)
    /// let hits = try await remote.dictionary(String.self, Int.self, name: "hits")
    /// try await hits.increment("home", by: 1)
    /// ```
    ///
    /// With `tls` (a ``RemoteTLS/client(trustRoots:serverName:)``) the connection is TLS, the
    /// server's certificate checked, for a manager served with TLS.
    ///
    /// Throws ``ManagerError/Code/authentication`` (a wrong key, or a server certificate that
    /// does not verify), ``ManagerError/Code/timedOut``,
    /// ``ManagerError/Code/disconnected`` (nothing serves there), ``ManagerError/Code/invalidArgument``
    /// (an address that does not resolve, or no bootstrap in this process).
    public static func connect(to address: ListenerAddress, authkey: [UInt8],
                               timeout: Duration = AuthenticationLimits.defaultTimeout,
                               liveness: RemoteLiveness = .default, tls: RemoteTLS? = nil) async throws(ManagerError) -> Manager {
        let runtime: Runtime
        do { runtime = try Runtime.current } catch {
            throw ManagerError(.invalidArgument, "call Multiprocessing.bootstrap before connecting to a manager: \(error)")
        }
        return try await connect(to: address, authkey: authkey, timeout: timeout, liveness: liveness, tls: tls, runtime: runtime)
    }

    /// The same, for `runtime` (whose decoders find this connection's proxies).
    public static func connect(to address: ListenerAddress, authkey: [UInt8], timeout: Duration = AuthenticationLimits.defaultTimeout,
                               liveness: RemoteLiveness = .default, tls: RemoteTLS? = nil, runtime: Runtime) async throws(ManagerError) -> Manager {
        try await connect(to: address, authkey: authkey, timeout: timeout, liveness: liveness, tls: tls, clients: runtime.managerClients)
    }
}
