#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// This process's memory as the kernel counts it, and giving freed heap memory back to it.
enum ProcessMemory {
    /// Resident bytes of this process (the second field of `/proc/self/statm`, in pages), or
    /// nil if it cannot be read.
    /// The corresponding C functions are `open`, `read` and `sysconf(_SC_PAGESIZE)`.
    static func residentBytes() -> Int? {
        guard let fd = try? FileDescriptor.open("/proc/self/statm", O_RDONLY | O_CLOEXEC) else { return nil }
        defer { try? fd.close() }
        guard let bytes = try? fd.readToEnd(limit: 4096) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * sysconf(Int32(_SC_PAGESIZE))
    }

    /// Gives the heap's free memory back to the kernel: glibc keeps freed memory in its arenas
    /// (so RSS does not fall when a large queue drains) until this is called; returns whether
    /// any was released.
    /// The corresponding C function is `malloc_trim(0)`.
    @discardableResult
    static func trimHeap() -> Bool {
        mp_malloc_trim(0) != 0
    }
}
