#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a ``Listener`` listens and a ``Client(address:authkey:timeout:maxFrameSize:)``
/// connects: a TCP host and port, or a Unix socket path. Python's address tuple or path.
///
/// ```swift
/// let any = ListenerAddress.tcp(host: "127.0.0.1", port: 0)   // port 0: the system picks one
/// let listener = try Listener(address: any, authkey: key)
/// print(listener.address)                                       // "127.0.0.1:43817"
/// let parsed = try ListenerAddress(parsing: "[::1]:5000")       // or "host:5000", "/run/app.sock"
/// ```
public enum ListenerAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    /// A TCP address: a host name or an IPv4 or IPv6 literal (without brackets), and a port.
    /// An empty host listens on every interface.
    case tcp(host: String, port: UInt16)
    /// A Unix socket at a file system path.
    case unix(path: String)

    /// The address written as "host:port", "[v6-literal]:port" or a path: a text that starts
    /// with "/" or "./", or with "unix:" (stripped), is a Unix path. Throws
    /// ``ConnectionError/Code/invalidArgument`` naming the text for anything else.
    public init(parsing text: String) throws(ConnectionError) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            guard !path.isEmpty else { throw Self.invalid(text, "the Unix socket path after \"unix:\" is empty") }
            self = .unix(path: path)
            return
        }
        if text.hasPrefix("/") || text.hasPrefix("./") {
            self = .unix(path: text)
            return
        }
        guard let colon = text.lastIndex(of: ":") else {
            throw Self.invalid(text, "expected \"host:port\", \"[ipv6]:port\" or a Unix socket path starting with \"/\"")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else {
            throw Self.invalid(text, "the port \"\(portText)\" is not a number from 0 to 65535")
        }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]") else { throw Self.invalid(text, "an IPv6 literal opened with \"[\" is not closed by \"]\"") }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw Self.invalid(text, "write an IPv6 host in brackets: \"[::1]:\(port)\"")
        }
        self = .tcp(host: host, port: port)
    }

    /// "host:port", "[v6-literal]:port" or the Unix path: what ``init(parsing:)`` reads back.
    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): path.hasPrefix("/") || path.hasPrefix("./") ? path : "unix:\(path)"
        }
    }

    /// The socket addresses to try, in order (a name may resolve to several).
    func socketAddresses(passive: Bool) throws(ConnectionError) -> [SocketAddress] {
        do {
            switch self {
            case .unix(let path): return [try SocketAddress.unix(path: path)]
            case .tcp(let host, let port):
                let found = try SocketAddress.resolve(host: host, port: port, passive: passive)
                guard !found.isEmpty else { throw ConnectionError(.invalidArgument, "\(self) resolves to no IPv4 or IPv6 address") }
                return found
            }
        } catch {
            throw ConnectionError(.invalidArgument, "the address \(self) cannot be used", underlyingError: error)
        }
    }

    /// The address a bound socket reports, as a value of this type.
    init(_ address: SocketAddress) {
        if let path = address.path {
            self = .unix(path: path)
        } else {
            self = .tcp(host: address.host ?? "", port: address.port ?? 0)
        }
    }

    /// Decodes the text form (``init(parsing:)``).
    public init(from decoder: any Decoder) throws {
        self = try ListenerAddress(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    /// Encodes the text form (``description``).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func invalid(_ text: String, _ why: String) -> ConnectionError {
        ConnectionError(.invalidArgument, "\"\(text)\" is not a listener address: \(why)")
    }
}
