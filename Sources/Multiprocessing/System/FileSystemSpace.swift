#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Free space of a file system: a named shared memory segment larger than what `/dev/shm` has
/// left would be created (a sparse `ftruncate` succeeds) and then kill its first writer
/// with SIGBUS, so segments are checked against it first.
enum FileSystemSpace {
    static func _availableBytes(at path: String) -> Result<Int, Errno> {
        var info = statvfs()
        return nothingOrErrno { statvfs(path, &info) }.map {
            let (bytes, overflow) = Int(clamping: info.f_bavail).multipliedReportingOverflow(by: Int(clamping: info.f_frsize))
            return overflow ? Int.max : bytes
        }
    }

    /// The bytes an unprivileged process may still use in the file system holding `path`.
    /// The corresponding C function is `statvfs`.
    static func availableBytes(at path: String) throws(SystemError) -> Int {
        try _availableBytes(at: path).get("statvfs", .path(path))
    }
}
