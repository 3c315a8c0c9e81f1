#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Advice to the kernel about a range of a mapping.
enum MemoryAdvice {
    /// Maps every page of `byteCount` bytes at `address` writable now, in one call: a process
    /// about to write a whole shared array takes one system call instead of a write fault per
    /// page (a shared mapping gets no fault-around on writes). Pages not yet in the file are
    /// allocated. The range is widened to whole pages. Fails with `EINVAL` before Linux 5.14.
    /// The corresponding C function is `madvise(MADV_POPULATE_WRITE)`.
    static func _populateWritable(_ address: UnsafeMutableRawPointer, byteCount: Int) -> Result<Void, Errno> {
        let page = MappedRegion.pageSize
        let start = Int(bitPattern: address) & ~(page - 1)
        let end = (Int(bitPattern: address) + byteCount + page - 1) & ~(page - 1)
        return nothingOrErrno { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_POPULATE_WRITE) }
    }
}
