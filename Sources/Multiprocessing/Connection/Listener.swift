#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import MessagePack

/// A TCP or Unix socket that accepts authenticated ``Connection``s: Python's
/// `multiprocessing.connection.Listener(address, authkey=...)`. Python 3.12+'s `Client` and
/// this package's ``Client(address:authkey:timeout:maxFrameSize:)`` connect to it.
///
/// ```swift
/// let key = Array("a long random secret".utf8)
/// let listener = try Listener(address: .tcp(host: "127.0.0.1", port: 0), authkey: key)
/// print("listening on \(listener.address)")       // the port the system picked
/// let connection = try await listener.accept(timeout: .seconds(30))
/// let request = try await connection.receiveBytes()
/// listener.close()
/// ```
///
/// **Authentication first.** Every connection runs the HMAC-SHA256 handshake in both
/// directions (``Authentication``) before ``accept(timeout:)`` returns it; nothing else is
/// read from an unauthenticated peer. Until then a peer is held to frames of
/// ``AuthenticationLimits/maxFrameSize`` bytes (a larger header is refused before anything is
/// allocated) and to `authenticationTimeout` for the whole handshake, and at most
/// `maxPendingHandshakes` run at once (more are closed as they arrive).
///
/// **Never blocked by one peer.** A background task accepts connections as they come and runs
/// each handshake in its own task, so a slow or silent peer delays nobody; ``accept(timeout:)``
/// takes the next peer that finished its handshake. A peer that failed it is closed, and
/// ``accept(timeout:)`` reports it once, as Python's `accept()` does, by throwing its
/// ``AuthenticationError``: call it again for the next peer.
///
/// **Ownership.** The listener owns its socket (and a Unix socket's file, removed at
/// ``close()``); each returned connection owns its own socket. ``close()`` (or the last
/// reference going away) closes the socket, ends the handshakes in progress and closes the
/// connections nobody took.
public final class Listener: Sendable, CustomStringConvertible {
    /// Where the listener is bound: for a TCP port 0, the port the system picked.
    public let address: ListenerAddress
    /// The largest frame an accepted connection takes once authenticated.
    public let maxFrameSize: Int
    private let core: ListenerCore

    /// Binds `address` and starts accepting, with `authkey` as the shared secret (not empty).
    /// `backlog` is the kernel's queue of connections not yet accepted; `maxFrameSize` limits
    /// the frames of the returned connections once authenticated. Throws ``ConnectionError``:
    /// ``ConnectionError/Code/invalidArgument`` (an empty key, an address that does not
    /// resolve) or ``ConnectionError/Code/systemCallFailed`` (the address is in use, a Unix
    /// path's directory is missing: ``ConnectionError/underlyingError`` says which).
    /// The corresponding C functions are `socket`, `bind` and `listen`.
    public init(address: ListenerAddress, authkey: [UInt8], backlog: Int = 128,
                authenticationTimeout: Duration = AuthenticationLimits.defaultTimeout,
                maxPendingHandshakes: Int = 64,
                maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) throws(ConnectionError) {
        let key = try Authentication.key(authkey)
        guard authenticationTimeout > .zero, maxPendingHandshakes > 0, maxFrameSize > 0, backlog > 0 else {
            throw ConnectionError(.invalidArgument, "the backlog, the authentication timeout, the pending handshakes and the frame size must be positive")
        }
        let (socket, bound) = try Self.bind(address, backlog: Int32(clamping: backlog))
        self.address = ListenerAddress(bound)
        self.maxFrameSize = maxFrameSize
        core = ListenerCore(socket: socket, family: bound.family, key: key, unixPath: bound.path,
                            authenticationTimeout: authenticationTimeout,
                            maxPendingHandshakes: maxPendingHandshakes, maxFrameSize: maxFrameSize)
        core.startAccepting()
    }

    deinit { core.close() }

    /// The next authenticated connection, waiting up to `timeout` (nil: no limit). Throws the
    /// ``AuthenticationError`` of a peer that failed its handshake (it is closed; call again),
    /// ``ConnectionError/Code/timedOut``, ``ConnectionError/Code/closed`` once the listener is
    /// closed, or `CancellationError`. The caller owns the returned connection.
    public func accept(timeout: Duration? = nil) async throws -> Connection {
        try await core.next(timeout: timeout)
    }

    /// Stops listening: closes the socket (a Unix socket's file is removed), ends the
    /// handshakes in progress (their peers are closed), closes the authenticated connections
    /// nobody took, and wakes every ``accept(timeout:)`` with ``ConnectionError/Code/closed``.
    /// Connections already returned stay open. Closing again does nothing.
    public func close() { core.close() }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { core.isClosed }

    /// The number of handshakes in progress (for tests and diagnostics).
    public var pendingHandshakes: Int { core.pendingHandshakes }

    public var description: String { "Listener(\(address)\(isClosed ? ", closed" : ""))" }

    /// A listening non-blocking socket bound to the first of `address`'s socket addresses that
    /// binds, and the address it got. Nothing is left open on failure.
    private static func bind(_ address: ListenerAddress, backlog: Int32) throws(ConnectionError) -> (FileDescriptor, SocketAddress) {
        var lastFailure: SystemError?
        for candidate in try address.socketAddresses(passive: true) {
            let socket: FileDescriptor
            do { socket = try FileDescriptor.socket(family: candidate.family, nonBlocking: true) } catch {
                throw ConnectionError.system(error, "opening a socket for \(address)")
            }
            do {
                if candidate.family != AF_UNIX {
                    // As Python's SocketListener: a restarted server rebinds its port at once.
                    try socket.setOption(level: SOL_SOCKET, SO_REUSEADDR, 1)
                }
                try socket.bind(candidate)
                try socket.listen(backlog: backlog)
                return (socket, try socket.localAddress())
            } catch {
                _ = socket._close()
                lastFailure = error
            }
        }
        var message = "cannot listen on \(address)"
        if lastFailure?.underlyingError == .addressInUse, case .unix(let path) = address {
            message += ": a file exists at \(path) (a socket left by a process that ended? remove it)"
        } else if lastFailure?.underlyingError == .addressInUse {
            message += ": the port is in use"
        }
        throw ConnectionError(.systemCallFailed, message, underlyingError: lastFailure)
    }
}
