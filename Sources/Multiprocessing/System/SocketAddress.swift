#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An address a stream socket binds or connects to, in its C form (`sockaddr_in`,
/// `sockaddr_in6` or `sockaddr_un`): the bytes the kernel reads, kept as a value.
///
/// ```swift
/// let loopback = try SocketAddress.resolve(host: "localhost", port: 0).first!
/// let path = try SocketAddress.unix(path: "/tmp/manager.sock")
/// ```
struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// The `sockaddr_*` bytes, `length` of them.
    private(set) var bytes: [UInt8]

    /// `AF_INET`, `AF_INET6` or `AF_UNIX`.
    var family: Int32 { Int32(bytes.withUnsafeBytes { $0.load(as: sa_family_t.self) }) }

    /// An address made of `length` bytes copied from `address`.
    init(copying address: UnsafeRawPointer, length: Int) {
        bytes = Array(UnsafeRawBufferPointer(start: address, count: length))
    }

    /// The address of a Unix socket at `path` (not in the abstract namespace). A path longer
    /// than `sun_path` (107 bytes and its terminating zero) is refused.
    static func unix(path: String) throws(SystemError) -> SocketAddress {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let utf8 = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !utf8.isEmpty, utf8.count < capacity, !utf8.contains(0) else {
            throw SystemError(.invalidArgument, operation: "sockaddr_un", subject: .path(path),
                              detail: "a Unix socket path has 1 to \(capacity - 1) bytes and no zero byte")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: utf8) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + utf8.count + 1
        return withUnsafeBytes(of: &address) { SocketAddress(copying: $0.baseAddress!, length: length) }
    }

    /// The stream-socket addresses of `host` (a name, an IPv4 or an IPv6 literal; empty: every
    /// local interface, for a listener) on `port`, as the resolver orders them.
    /// The corresponding C function is `getaddrinfo`.
    static func resolve(host: String, port: UInt16, passive: Bool = false) throws(SystemError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) | AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard status == 0, let list else {
            let reason = String(cString: gai_strerror(status))
            throw SystemError(.invalidArgument, operation: "getaddrinfo", subject: .name(host),
                              underlyingError: status == EAI_SYSTEM ? Errno.current : nil, detail: reason)
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            if let address = current.pointee.ai_addr,
               current.pointee.ai_family == AF_INET || current.pointee.ai_family == AF_INET6 {
                let found = SocketAddress(copying: address, length: Int(current.pointee.ai_addrlen))
                if !addresses.contains(found) { addresses.append(found) }
            }
            entry = current.pointee.ai_next
        }
        return addresses
    }

    /// The numeric host ("127.0.0.1", "::1") of an IPv4 or IPv6 address, nil for a Unix one.
    /// The corresponding C function is `inet_ntop`.
    var host: String? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let converted: UnsafePointer<CChar>? = bytes.withUnsafeBytes { raw in
            switch family {
            case AF_INET:
                var inet = raw.loadUnaligned(as: sockaddr_in.self).sin_addr
                return inet_ntop(AF_INET, &inet, &text, socklen_t(text.count))
            case AF_INET6:
                var inet6 = raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr
                return inet_ntop(AF_INET6, &inet6, &text, socklen_t(text.count))
            default: return nil
            }
        }
        guard converted != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The port of an IPv4 or IPv6 address, nil for a Unix one.
    var port: UInt16? {
        bytes.withUnsafeBytes { raw in
            switch family {
            case AF_INET: UInt16(bigEndian: raw.loadUnaligned(as: sockaddr_in.self).sin_port)
            case AF_INET6: UInt16(bigEndian: raw.loadUnaligned(as: sockaddr_in6.self).sin6_port)
            default: nil
            }
        }
    }

    /// The path of a Unix address (empty for an unnamed one), nil for an IP one.
    var path: String? {
        guard family == AF_UNIX else { return nil }
        let start = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        guard bytes.count > start else { return "" }
        return String(decoding: bytes[start...].prefix { $0 != 0 }, as: UTF8.self)
    }

    /// "127.0.0.1:5000", "[::1]:5000" or the Unix path.
    var description: String {
        if let path { return path }
        guard let host, let port else { return "address of family \(family)" }
        return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Calls `body` with the address as the kernel reads it.
    func withSocketAddress<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        bytes.withUnsafeBytes { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
    }
}
