#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

// Stream sockets (AF_INET, AF_INET6, AF_UNIX) for the Listener and the Client: thin wrappers,
// each a `_name` returning `Result<_, Errno>` (retrying on EINTR where a retry is right) and a
// throwing form naming the call. Every socket made here is close-on-exec.

/// How ``FileDescriptor/shutdown(_:)`` ends a connected socket.
enum SocketShutdown: Sendable {
    /// No more receiving (`SHUT_RD`).
    case read
    /// No more sending: the peer reads end of file (`SHUT_WR`).
    case write
    /// Both (`SHUT_RDWR`): a receive blocked on the socket returns.
    case both

    fileprivate var rawValue: Int32 {
        switch self {
        case .read: Int32(SHUT_RD)
        case .write: Int32(SHUT_WR)
        case .both: Int32(SHUT_RDWR)
        }
    }
}

extension FileDescriptor {
    static func _socket(family: Int32, nonBlocking: Bool) -> Result<FileDescriptor, Errno> {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        return valueOrErrno { Glibc.socket(family, type, 0) }.map(FileDescriptor.init(rawValue:))
    }

    /// A new stream socket of `family` (`AF_INET`, `AF_INET6`, `AF_UNIX`), close-on-exec and
    /// non-blocking if asked. The caller owns it; nothing is open on failure.
    /// The corresponding C function is `socket`.
    static func socket(family: Int32, nonBlocking: Bool = false) throws(SystemError) -> FileDescriptor {
        try _socket(family: family, nonBlocking: nonBlocking).get("socket")
    }

    /// Two connected Unix stream sockets, close-on-exec (non-blocking if asked). The
    /// corresponding C function is `socketpair`.
    static func _socketPair(nonBlocking: Bool) -> Result<(FileDescriptor, FileDescriptor), Errno> {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        guard Glibc.socketpair(AF_UNIX, type, 0, &fds) == 0 else { return .failure(.current) }
        return .success((FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1])))
    }

    static func socketPair(nonBlocking: Bool = false) throws(SystemError) -> (FileDescriptor, FileDescriptor) {
        try _socketPair(nonBlocking: nonBlocking).get("socketpair")
    }

    func _bind(_ address: SocketAddress) -> Result<Void, Errno> {
        nothingOrErrno { address.withSocketAddress { Glibc.bind(rawValue, $0, $1) } }
    }

    /// Gives the socket `address`. The corresponding C function is `bind`.
    func bind(_ address: SocketAddress) throws(SystemError) {
        try _bind(address).get("bind", .name(address.description))
    }

    func _listen(backlog: Int32) -> Result<Void, Errno> {
        nothingOrErrno { Glibc.listen(rawValue, backlog) }
    }

    /// Marks a bound socket as accepting connections, `backlog` of them queued at most.
    /// The corresponding C function is `listen`.
    func listen(backlog: Int32) throws(SystemError) {
        try _listen(backlog: backlog).get("listen", subject)
    }

    /// A connection waiting on this listening socket, close-on-exec (non-blocking if asked):
    /// the caller owns it. `EAGAIN` when none waits on a non-blocking listener.
    func _accept(nonBlocking: Bool) -> Result<FileDescriptor, Errno> {
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        return valueOrErrno { mp_accept4(rawValue, nil, nil, flags) }.map(FileDescriptor.init(rawValue:))
    }

    /// Takes the next connection queued on this listening socket. The caller owns the new
    /// descriptor. The corresponding C function is `accept4(SOCK_CLOEXEC)`.
    func accept(nonBlocking: Bool = false) throws(SystemError) -> FileDescriptor {
        try _accept(nonBlocking: nonBlocking).get("accept4", subject)
    }

    /// Starts connecting to `address`. Not retried on `EINTR`: the kernel goes on connecting
    /// then, as after `EINPROGRESS` on a non-blocking socket; wait until writable and read
    /// ``pendingError()``.
    func _connect(_ address: SocketAddress) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { address.withSocketAddress { Glibc.connect(rawValue, $0, $1) } }
    }

    /// Connects to `address` (see ``_connect(_:)`` for `EINTR` and `EINPROGRESS`).
    /// The corresponding C function is `connect`.
    func connect(_ address: SocketAddress) throws(SystemError) {
        try _connect(address).get("connect", .name(address.description))
    }

    func _setOption(level: Int32, _ name: Int32, _ value: Int32) -> Result<Void, Errno> {
        var value = value
        return nothingOrErrno { setsockopt(rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// Sets an integer socket option (`SOL_SOCKET`/`SO_REUSEADDR`, `IPPROTO_TCP`/`TCP_NODELAY`).
    /// The corresponding C function is `setsockopt`.
    func setOption(level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        try _setOption(level: level, name, value).get("setsockopt", subject)
    }

    func _option(level: Int32, _ name: Int32) -> Result<Int32, Errno> {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return nothingOrErrno { getsockopt(rawValue, level, name, &value, &length) }.map { value }
    }

    /// An integer socket option. The corresponding C function is `getsockopt`.
    func option(level: Int32, _ name: Int32) throws(SystemError) -> Int32 {
        try _option(level: level, name).get("getsockopt", subject)
    }

    /// The outcome of a non-blocking connect once the socket is writable: nil when it
    /// connected, else why not (`ECONNREFUSED`, `ETIMEDOUT`, ...). Reads `SO_ERROR`.
    /// The corresponding C function is `getsockopt`.
    func pendingError() throws(SystemError) -> Errno? {
        let value = try option(level: SOL_SOCKET, SO_ERROR)
        return value == 0 ? nil : Errno(rawValue: value)
    }

    func _localAddress() -> Result<SocketAddress, Errno> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutableBytes(of: &storage) { raw in
            nothingOrErrno {
                getsockname(rawValue, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }.map { SocketAddress(copying: raw.baseAddress!, length: Int(length)) }
        }
    }

    /// The address the socket is bound to (a port 0 bind shows its port here).
    /// The corresponding C function is `getsockname`.
    func localAddress() throws(SystemError) -> SocketAddress {
        try _localAddress().get("getsockname", subject)
    }

    func _peerAddress() -> Result<SocketAddress, Errno> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutableBytes(of: &storage) { raw in
            nothingOrErrno {
                getpeername(rawValue, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }.map { SocketAddress(copying: raw.baseAddress!, length: Int(length)) }
        }
    }

    /// The address of the connected peer. The corresponding C function is `getpeername`.
    func peerAddress() throws(SystemError) -> SocketAddress {
        try _peerAddress().get("getpeername", subject)
    }

    func _shutdown(_ how: SocketShutdown) -> Result<Void, Errno> {
        nothingOrErrno { Glibc.shutdown(rawValue, how.rawValue) }
    }

    /// Ends one or both directions of a connected socket; the descriptor stays open (still
    /// the caller's to close). The corresponding C function is `shutdown`.
    func shutdown(_ how: SocketShutdown) throws(SystemError) {
        try _shutdown(how).get("shutdown", subject)
    }
}

/// Removes the file at `path` (a Unix socket's, once its listener closed).
/// The corresponding C function is `unlink`.
func _unlinkFile(_ path: String) -> Result<Void, Errno> {
    nothingOrErrno { Glibc.unlink(path) }
}

extension FileDescriptor {
    /// Turns TCP keepalive on for a connected socket: a probe after `idleSeconds` without
    /// traffic, then every `intervalSeconds`, the connection failing (`ETIMEDOUT`) after
    /// `probes` unanswered ones; and data unacknowledged for `unacknowledgedMilliseconds`
    /// fails it too. So a peer behind a cut link is noticed without sending anything.
    /// The corresponding C function is `setsockopt` (`SO_KEEPALIVE`, `TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL`, `TCP_KEEPCNT`, `TCP_USER_TIMEOUT`).
    func _setKeepAlive(idleSeconds: Int32, intervalSeconds: Int32, probes: Int32, unacknowledgedMilliseconds: Int32) -> Result<Void, Errno> {
        let tcp = Int32(IPPROTO_TCP)
        return _setOption(level: SOL_SOCKET, SO_KEEPALIVE, 1)
            .flatMap { _setOption(level: tcp, TCP_KEEPIDLE, idleSeconds) }
            .flatMap { _setOption(level: tcp, TCP_KEEPINTVL, intervalSeconds) }
            .flatMap { _setOption(level: tcp, TCP_KEEPCNT, probes) }
            .flatMap { _setOption(level: tcp, TCP_USER_TIMEOUT, unacknowledgedMilliseconds) }
    }
}
