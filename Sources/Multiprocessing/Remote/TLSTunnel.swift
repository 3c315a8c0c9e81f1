#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

// TLS as a tunnel around the plain protocol: every frame, the authkey's handshake included,
// goes through a TLS channel on a NIO loop and a local socket pair, so the Listener, the
// Client's handshake, Connection and the manager's transports stay as they are.
//
//   client: Connection <-> socket pair <-> glue <-> TLS (NIOSSLClientHandler) <-> TCP
//   server: TCP <-> TLS (NIOSSLServerHandler) <-> glue <-> Unix socket <-> the plain Listener

/// Passes the bytes read on one channel to its partner's, and ends each when the other ends.
/// Both channels of a pair run on one loop. A channel reads only while its partner can take
/// what it reads (a slow reader on one side slows the other instead of growing memory).
// Unchecked: touched on the pair's loop only.
final class TunnelGlue: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: TunnelGlue?
    private var context: ChannelHandlerContext?
    private var readWanted = false
    /// Read before the partner's channel was there (the server's side connects to the plain
    /// listener after the TLS side came up): written to it once it is.
    private var heldForPartner: [NIOAny] = []
    /// This side's channel ended.
    private var ended = false
    /// The first error of this side (a certificate that does not verify), for the caller.
    private let failure: TunnelFailure?

    private init(failure: TunnelFailure?) { self.failure = failure }

    /// Two glues that pass to each other; `failure` records the errors of the second's channel.
    static func pair(recordingFailuresOfSecond failure: TunnelFailure? = nil) -> (TunnelGlue, TunnelGlue) {
        let first = TunnelGlue(failure: nil)
        let second = TunnelGlue(failure: failure)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard let partner else { return }
        if partner.ended {
            context.close(promise: nil)   // the other side ended before this one was there
        } else {
            partner.deliverHeld()
        }
    }

    /// Writes what was read before the partner's channel was there.
    private func deliverHeld() {
        guard !heldForPartner.isEmpty, let partnerContext = partner?.context else { return }
        for data in heldForPartner { partnerContext.write(data, promise: nil) }
        heldForPartner = []
        partnerContext.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let partnerContext = partner?.context {
            partnerContext.write(data, promise: nil)
        } else if let partner, !partner.ended {
            heldForPartner.append(data)   // at most what arrives while the partner connects
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended = true
        partner?.context?.close(promise: nil)
    }

    /// A half close passes through as one: a supervisor that ends a worker's mailbox shuts its
    /// sending side and still reads the worker's goodbye.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            partner?.context?.close(mode: .output, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failure?.record(error)
        partner?.context?.close(promise: nil)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerCanTakeMore() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? true {
            context.read()
        } else {
            readWanted = true
        }
    }

    private func partnerCanTakeMore() {
        guard readWanted, let context else { return }
        readWanted = false
        context.read()
    }
}

/// TLS itself failed on a client's tunnel (the server's certificate did not verify, or the
/// handshake broke off).
struct TLSHandshakeError: Error, CustomStringConvertible {
    let underlying: any Error
    var description: String { "\(underlying)" }
}

/// The first error of a tunnel's TLS side.
final class TunnelFailure: Sendable {
    private let first = Mutex<(any Error)?>(nil)
    func record(_ error: any Error) { first.withLock { if $0 == nil { $0 = error } } }
    var error: (any Error)? { first.withLock { $0 } }
}

enum TLSTunnel {
    /// Connects to `address` (TCP) with TLS as `tls` says, on `loop`; returns the plain end of
    /// the tunnel (a Unix socket, non-blocking: the caller runs the authkey's handshake over it
    /// and owns it). The TLS side's first error is recorded in `failure`. The server's
    /// certificate must name `tls.serverName`, else the host connected to (a DNS name, or an
    /// IP address among its IP names).
    static func connect(to address: ListenerAddress, tls: RemoteTLS, deadline: ContinuousClock.Instant, timeout: Duration,
                        liveness: RemoteLiveness, loop: any EventLoop, failure: TunnelFailure) async throws -> FileDescriptor {
        guard case .tcp(let host, _) = address else {
            throw ConnectionError(.invalidArgument, "TLS is for TCP addresses, not \(address)")
        }
        // An IP address is not sent as a server name (SNI); NIOSSL then checks it against the
        // certificate's IP names.
        let serverName = tls.serverName ?? (isIPAddress(host) ? nil : host)
        let tcp = try await SocketConnector.connect(to: address, deadline: deadline, timeout: timeout)
        liveness.apply(to: tcp)
        let pair: (FileDescriptor, FileDescriptor)
        do { pair = try FileDescriptor.socketPair(nonBlocking: true) } catch {
            _ = tcp._close()
            throw ConnectionError.system(error, "socketpair")
        }
        let (plainGlue, tlsGlue) = TunnelGlue.pair(recordingFailuresOfSecond: failure)
        let plain: any Channel
        do {
            plain = try await ClientBootstrap(group: loop)
                .channelOption(ChannelOptions.autoRead, value: false)
                .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(plainGlue) }
                }
                .withConnectedSocket(pair.1.rawValue)
                .get()
        } catch {
            _ = tcp._close()
            _ = pair.0._close()   // NIO closed pair.1
            throw error
        }
        do {
            let secure = try await ClientBootstrap(group: loop)
                .channelOption(ChannelOptions.autoRead, value: false)
                .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: serverName))
                        try channel.pipeline.syncOperations.addHandler(tlsGlue)
                    }
                }
                .withConnectedSocket(tcp.rawValue)
                .get()
            try await secure.setOption(ChannelOptions.autoRead, value: true).get()
            try await plain.setOption(ChannelOptions.autoRead, value: true).get()
        } catch {
            plain.close(promise: nil)
            _ = pair.0._close()
            throw error
        }
        return pair.0
    }

    /// The client's side in one: a tunnel to `address` and the authkey's handshake through it,
    /// within `timeout`; the authenticated end. A failure of TLS itself (a certificate that does
    /// not verify) is thrown as ``TLSHandshakeError``, anything else as it came.
    static func authenticatedConnection(to address: ListenerAddress, authkey: [UInt8], tls: RemoteTLS, timeout: Duration,
                                        liveness: RemoteLiveness, loop: any EventLoop) async throws -> Connection {
        let failure = TunnelFailure()
        do {
            let key = try Authentication.key(authkey)
            let deadline = ContinuousClock.now.advanced(by: timeout)
            let plain = try await connect(to: address, tls: tls, deadline: deadline, timeout: timeout,
                                          liveness: liveness, loop: loop, failure: failure)
            return try await Authentication.clientConnection(over: plain, key: key, deadline: deadline, timeout: timeout,
                                                             peer: address.description, maxFrameSize: MessagePackLimits.defaultMaxFrameSize)
        } catch {
            if let tlsError = failure.error { throw TLSHandshakeError(underlying: tlsError) }
            throw error
        }
    }

    /// Whether `host` is written as an IPv4 or IPv6 address (no name to check in a certificate).
    static func isIPAddress(_ host: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
    }
}

/// The TLS side of a served address: accepts TCP connections on `address`, speaks TLS with
/// each, and passes what is inside to the plain listener at a Unix socket of this process
/// (whose authkey handshake and limits apply as to any peer; its time limit runs from the
/// TCP accept, so a peer that never finishes TLS is closed like a silent one).
final class TLSFront: Sendable {
    /// Where peers connect (a port 0 shows the port picked).
    let address: ListenerAddress
    private let server: any Channel

    private init(address: ListenerAddress, server: any Channel) {
        self.address = address
        self.server = server
    }

    static func serve(on address: ListenerAddress, forwardingTo inner: String, tls: RemoteTLS,
                      liveness: RemoteLiveness, loop: any EventLoop) async throws -> TLSFront {
        guard case .tcp(let host, let port) = address else {
            throw ConnectionError(.invalidArgument, "TLS is for TCP addresses, not \(address)")
        }
        func seconds(_ duration: Duration) -> SocketOptionValue { SocketOptionValue(clamping: max(1, duration.components.seconds)) }
        let tcpLevel = SocketOptionLevel(IPPROTO_TCP)
        let server = try await ServerBootstrap(group: loop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .childChannelOption(ChannelOptions.socket(tcpLevel, SocketOptionName(TCP_KEEPIDLE)), value: seconds(liveness.idle))
            .childChannelOption(ChannelOptions.socket(tcpLevel, SocketOptionName(TCP_KEEPINTVL)), value: seconds(liveness.interval))
            .childChannelOption(ChannelOptions.socket(tcpLevel, SocketOptionName(TCP_KEEPCNT)), value: SocketOptionValue(clamping: max(1, liveness.probes)))
            .childChannelOption(ChannelOptions.socket(tcpLevel, SocketOptionName(TCP_USER_TIMEOUT)),
                                value: SocketOptionValue(clamping: max(1, liveness.unacknowledged.roundedUpMilliseconds)))
            .childChannelInitializer { child in
                let (secureGlue, plainGlue) = TunnelGlue.pair()
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
                    try child.pipeline.syncOperations.addHandler(secureGlue)
                }.flatMap {
                    ClientBootstrap(group: child.eventLoop)
                        .channelOption(ChannelOptions.autoRead, value: false)
                        .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                        .channelInitializer { plain in
                            plain.eventLoop.makeCompletedFuture { try plain.pipeline.syncOperations.addHandler(plainGlue) }
                        }
                        .connect(unixDomainSocketPath: inner)
                }.flatMap { plain in
                    plain.setOption(ChannelOptions.autoRead, value: true)
                        .flatMap { child.setOption(ChannelOptions.autoRead, value: true) }
                        .flatMapErrorThrowing { error in
                            plain.close(promise: nil)
                            throw error
                        }
                }
            }
            .bind(host: host, port: Int(port))
            .get()
        let bound = server.localAddress?.port.map { UInt16(clamping: $0) } ?? port
        return TLSFront(address: .tcp(host: host, port: bound), server: server)
    }

    /// Stops accepting (the connections through it end with their plain side).
    func close() { server.close(promise: nil) }
}

extension TLSFront {
    /// The listener of a server of remote peers on `address`: there itself without `tls`;
    /// with `tls`, on a Unix socket of this process (a random name in /tmp), behind a TLS front
    /// on `address` (TCP only) run on `loop`. Throws what failed; nothing is left open then.
    static func listening(on address: ListenerAddress, authkey: [UInt8], authenticationTimeout: Duration,
                          tls: RemoteTLS?, liveness: RemoteLiveness, loop: any EventLoop) async throws -> (Listener, TLSFront?) {
        guard let tls else {
            return (try Listener(address: address, authkey: authkey, authenticationTimeout: authenticationTimeout), nil)
        }
        guard tls.isServer else {
            throw ConnectionError(.invalidArgument, "serving with TLS needs RemoteTLS.server(certificateChain:privateKey:), not a client's configuration")
        }
        guard case .tcp = address else { throw ConnectionError(.invalidArgument, "TLS is for TCP addresses, not \(address)") }
        let path = "/tmp/mp-tls-\(getpid())-\(UInt64.random(in: 0 ... .max)).sock"
        let listener = try Listener(address: .unix(path: path), authkey: authkey, authenticationTimeout: authenticationTimeout)
        do {
            return (listener, try await TLSFront.serve(on: address, forwardingTo: path, tls: tls, liveness: liveness, loop: loop))
        } catch {
            listener.close()
            throw error
        }
    }
}
