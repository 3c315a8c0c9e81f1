#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import MessagePack

/// A connection to the ``Listener`` at `address`, authenticated with `authkey` in both
/// directions: Python's `multiprocessing.connection.Client(address, authkey=...)`, and a
/// Python 3.12+ `Listener` accepts it as well.
///
/// ```swift
/// let connection = try await Client(address: .tcp(host: "127.0.0.1", port: 6000), authkey: key)
/// try await connection.send(bytes: Array("hello".utf8))
/// let answer = try await connection.receiveBytes(timeout: .seconds(5))
/// ```
///
/// Connecting and the handshake together must finish within `timeout`; frames are then
/// limited to `maxFrameSize`. Throws ``ConnectionError`` (``ConnectionError/Code/invalidArgument``
/// for an address that does not resolve or an empty key, ``ConnectionError/Code/timedOut``,
/// ``ConnectionError/Code/systemCallFailed`` when nothing accepts the connection: its
/// ``ConnectionError/underlyingError`` names the call and the `errno`),
/// ``AuthenticationError`` (a wrong key, a peer that is not a listener of this protocol), or
/// `CancellationError`. The returned end owns its socket; nothing is left open on failure.
public func Client(address: ListenerAddress, authkey: [UInt8],
                   timeout: Duration = AuthenticationLimits.defaultTimeout,
                   maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) async throws -> Connection {
    let key = try Authentication.key(authkey)
    let deadline = ContinuousClock.now.advanced(by: timeout)
    let socket = try await SocketConnector.connect(to: address, deadline: deadline, timeout: timeout)
    return try await Authentication.clientConnection(over: socket, key: key, deadline: deadline, timeout: timeout,
                                                     peer: address.description, maxFrameSize: maxFrameSize)
}

extension Authentication {
    /// The client's handshake over `socket`, connected to a listener (directly, or through a
    /// tunnel such as ``RemoteTLS``'s), before `deadline`; the authenticated end. The socket is
    /// the end's, or closed on failure.
    static func clientConnection(over socket: FileDescriptor, key: SymmetricKey, deadline: ContinuousClock.Instant,
                                 timeout: Duration, peer: String, maxFrameSize: Int) async throws -> Connection {
        let stream = HandshakeStream(socket: socket, deadline: deadline, limit: timeout, peer: peer)
        do {
            try await Authentication.authenticateToListener(stream, key: key)
        } catch {
            _ = socket._close()
            throw error
        }
        return try Connection.adoptingSocket(socket, maxFrameSize: maxFrameSize)
    }
}

extension Authentication {
    /// The HMAC key of `authkey`; an empty one is refused (it would authenticate anyone who
    /// guesses it).
    static func key(_ authkey: [UInt8]) throws(ConnectionError) -> SymmetricKey {
        guard !authkey.isEmpty else { throw ConnectionError(.invalidArgument, "the authkey is empty: give at least one byte (32 random bytes are best)") }
        return SymmetricKey(data: authkey)
    }
}

/// Connects a non-blocking stream socket, waiting on the connection poller.
enum SocketConnector {
    /// A socket connected to the first of `address`'s socket addresses that accepts, before
    /// `deadline`. The caller owns it; nothing is left open on failure.
    static func connect(to address: ListenerAddress, deadline: ContinuousClock.Instant, timeout: Duration) async throws -> FileDescriptor {
        var lastFailure: SystemError?
        for candidate in try address.socketAddresses(passive: false) {
            let socket: FileDescriptor
            do { socket = try FileDescriptor.socket(family: candidate.family, nonBlocking: true) } catch {
                throw ConnectionError.system(error, "opening a socket for \(address)")
            }
            do {
                if let failure = try await connect(socket, to: candidate, deadline: deadline) {
                    lastFailure = failure
                    _ = socket._close()
                    continue
                }
            } catch {
                _ = socket._close()
                if error is CancellationError { throw error }
                throw ConnectionError(.timedOut, "connecting to \(address) did not finish within \(timeout)")
            }
            if candidate.family != AF_UNIX {
                // Each frame leaves in one write already: never hold a small one back.
                _ = socket._setOption(level: Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            }
            return socket
        }
        throw ConnectionError(.systemCallFailed, "nothing accepted a connection at \(address)", underlyingError: lastFailure)
    }

    /// Connects `socket` to `address`: nil when connected, the failure otherwise; throws
    /// `CancellationError`, or a timeout as any other error.
    private static func connect(_ socket: FileDescriptor, to address: SocketAddress,
                                deadline: ContinuousClock.Instant) async throws -> SystemError? {
        switch socket._connect(address) {
        case .success: return nil
        case .failure(let errno) where errno == .inProgress || errno == .interrupted: break
        case .failure(let errno): return SystemError(errno, operation: "connect", subject: .name(address.description))
        }
        switch await (try ConnectionPoller.shared()).wait(for: socket, .writable, until: deadline) {
        case .ready: break
        case .cancelled: throw CancellationError()
        case .timedOut, .interrupted, .notOpen: throw ConnectionError(.timedOut, "connect")
        }
        do {
            guard let errno = try socket.pendingError() else { return nil }
            return SystemError(errno, operation: "connect", subject: .name(address.description))
        } catch {
            return error
        }
    }
}
