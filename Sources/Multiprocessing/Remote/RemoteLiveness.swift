/// How a manager connection over TCP notices a peer that is gone without a word (a host that
/// lost power, a cut link, a partition): TCP keepalive probes while the connection is idle,
/// and a limit on data left unacknowledged. The connection then fails, every call in flight
/// ends with ``ManagerError/Code/disconnected``, and the server releases what that client held.
/// Unix sockets need none of it (the kernel knows when a local peer ends).
///
/// ```swift
/// // Notice a partition within about 3 + 3 * 1 = 6 seconds:
/// let liveness = RemoteLiveness(idle: .seconds(3), interval: .seconds(1), probes: 3, unacknowledged: .seconds(6))
/// let manager = try await Manager.connect(to: address, authkey: key, liveness: liveness)
/// ```
public struct RemoteLiveness: Hashable, Sendable {
    /// Quiet time before the first probe (`TCP_KEEPIDLE`, whole seconds, at least 1).
    public var idle: Duration
    /// Time between probes (`TCP_KEEPINTVL`, whole seconds, at least 1).
    public var interval: Duration
    /// Unanswered probes before the connection fails (`TCP_KEEPCNT`).
    public var probes: Int
    /// The longest data may stay unacknowledged before the connection fails (`TCP_USER_TIMEOUT`).
    public var unacknowledged: Duration

    /// Liveness with these limits.
    public init(idle: Duration, interval: Duration, probes: Int, unacknowledged: Duration) {
        self.idle = idle
        self.interval = interval
        self.probes = probes
        self.unacknowledged = unacknowledged
    }

    /// 10 s idle, a probe every 2 s, 3 probes, 20 s unacknowledged: a vanished peer is noticed
    /// within about 16 s when idle, 20 s when a call is in flight.
    public static let `default` = RemoteLiveness(idle: .seconds(10), interval: .seconds(2), probes: 3, unacknowledged: .seconds(20))

    /// Applies the limits to a connected TCP socket (a Unix socket is left as it is).
    func apply(to socket: FileDescriptor) {
        guard case .success(let address) = socket._localAddress(), address.path == nil else { return }
        func seconds(_ duration: Duration) -> Int32 { Int32(clamping: max(1, duration.components.seconds)) }
        let milliseconds = Int32(clamping: max(1, unacknowledged.roundedUpMilliseconds))
        if case .failure(let errno) = socket._setKeepAlive(idleSeconds: seconds(idle), intervalSeconds: seconds(interval),
                                                          probes: Int32(clamping: max(1, probes)),
                                                          unacknowledgedMilliseconds: milliseconds) {
            RuntimeLog.warning("[manager] keepalive could not be set on a remote connection: \(errno)")
        }
    }
}
