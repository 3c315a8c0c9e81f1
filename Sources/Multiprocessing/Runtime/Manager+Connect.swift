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
    /// Throws ``ManagerError/Code/authentication`` (a wrong key), ``ManagerError/Code/timedOut``,
    /// ``ManagerError/Code/disconnected`` (nothing serves there), ``ManagerError/Code/invalidArgument``
    /// (an address that does not resolve, or no bootstrap in this process).
    public static func connect(to address: ListenerAddress, authkey: [UInt8],
                               timeout: Duration = AuthenticationLimits.defaultTimeout,
                               liveness: RemoteLiveness = .default) async throws(ManagerError) -> Manager {
        let runtime: Runtime
        do { runtime = try Runtime.current } catch {
            throw ManagerError(.invalidArgument, "call Multiprocessing.bootstrap before connecting to a manager: \(error)")
        }
        return try await connect(to: address, authkey: authkey, timeout: timeout, liveness: liveness, runtime: runtime)
    }

    /// The same, for `runtime` (whose decoders find this connection's proxies).
    public static func connect(to address: ListenerAddress, authkey: [UInt8], timeout: Duration = AuthenticationLimits.defaultTimeout,
                               liveness: RemoteLiveness = .default, runtime: Runtime) async throws(ManagerError) -> Manager {
        try await connect(to: address, authkey: authkey, timeout: timeout, liveness: liveness, clients: runtime.managerClients)
    }
}
