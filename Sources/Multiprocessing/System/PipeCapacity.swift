#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension FileDescriptor {
    /// Linux's `F_SETPIPE_SZ` and `F_GETPIPE_SZ` (fcntl.h defines them only under `_GNU_SOURCE`).
    private static let setPipeSize: Int32 = 1031
    private static let getPipeSize: Int32 = 1032

    func _setPipeCapacity(_ bytes: Int) -> Result<Int, Errno> {
        valueOrErrno { fcntl(rawValue, Self.setPipeSize, Int32(clamping: bytes)) }.map(Int.init)
    }

    /// Asks the kernel for a pipe buffer of at least `bytes` (rounded up to a power-of-two number
    /// of pages) and returns the capacity granted. Fails with `EPERM` past
    /// `/proc/sys/fs/pipe-max-size` or the user's pipe-pages limit, with `EBUSY` below what the
    /// pipe holds. The corresponding C function is `fcntl(F_SETPIPE_SZ)`.
    @discardableResult
    func setPipeCapacity(_ bytes: Int) throws(SystemError) -> Int {
        try _setPipeCapacity(bytes).get("fcntl(F_SETPIPE_SZ)", subject)
    }

    /// The pipe's buffer capacity in bytes. The corresponding C function is `fcntl(F_GETPIPE_SZ)`.
    func pipeCapacity() throws(SystemError) -> Int {
        try valueOrErrno { fcntl(rawValue, Self.getPipeSize) }.map(Int.init).get("fcntl(F_GETPIPE_SZ)", subject)
    }
}
