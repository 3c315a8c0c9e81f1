extension Multiprocessing {
    /// Serves remote workers on `address` to launchers that connect with `authkey` (not empty):
    /// each joins `runtime`'s supervisor (the default runtime's when nil) as a child of its own
    /// (``WorkerServer``). Throws ``ProcessError/Code/invalidArgument`` for an empty key or an
    /// address that cannot be listened on, ``ProcessError/Code/notBootstrapped`` before bootstrap.
    ///
    /// ```swift
    /// let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "0.0.0.0", port: 7000), authkey: key)
    /// for try await worker in server.workers { print("\(worker.name) joined as \(worker.id)") }
    /// ```
    ///
    /// `liveness` notices a silent peer (a partition); `handshakeTimeout` bounds the join and
    /// the worker's hello. With `tls` (``RemoteTLS/server(certificateChain:privateKey:)``, TCP
    /// only) launchers must connect with TLS (``RemoteWorkerLauncher/tls``).
    public static func serveWorkers(on address: ListenerAddress, authkey: [UInt8], liveness: RemoteLiveness = .default,
                                    handshakeTimeout: Duration = .seconds(30), tls: RemoteTLS? = nil,
                                    runtime: Runtime? = nil) async throws -> WorkerServer {
        let supervisor = try (runtime ?? Runtime.current).supervisor()
        return try await WorkerServer.serve(on: address, authkey: authkey, supervisor: supervisor, liveness: liveness,
                                            handshakeTimeout: handshakeTimeout, tls: tls)
    }
}

extension RemoteWorkerLauncher.Program {
    /// The built-in pool worker entry of this program: a remote worker a ``ProcessPool`` of a
    /// function can adopt (``ProcessPool/adopt(_:)``); the program registers the function.
    public static var poolWorker: Self { .entry(PoolWire.workerEntry) }
}
