#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// This process's resource limits (`getrlimit`).
enum ResourceLimits {
    /// The soft limit on open descriptors (`RLIMIT_NOFILE`), or `nil` if unlimited or
    /// unknown. The corresponding C function is `getrlimit`.
    static var openFiles: UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return UInt64(limit.rlim_cur)
    }
}

extension FileDescriptor {
    /// Makes sure `count` more descriptors can be opened now, by opening `/dev/null` that many
    /// times and closing the copies. Throws an `EMFILE` (or `ENFILE`) ``SystemError`` whose
    /// detail names the limit. For code that cannot handle a failure in the middle of its
    /// work (SwiftNIO's loop start). The corresponding C functions are `open` and `close`.
    static func ensureHeadroom(_ count: Int) throws(SystemError) {
        var opened: [FileDescriptor] = []
        defer { for fd in opened { _ = fd._close() } }
        for _ in 0..<count {
            switch _open("/dev/null", O_RDONLY) {
            case .success(let fd): opened.append(fd)
            case .failure(let error):
                let limit = ResourceLimits.openFiles.map { "RLIMIT_NOFILE is \($0)" } ?? "the system's file table is full"
                throw SystemError(.systemCallFailed, operation: "open", subject: .path("/dev/null"), underlyingError: error,
                                  detail: "\(count) descriptors are needed, \(opened.count) could be opened (\(limit))")
            }
        }
    }
}
