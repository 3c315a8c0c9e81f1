#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

// MARK: - Memory files and shared memory objects

extension FileDescriptor {
    static func _memoryFile(name: String, allowSealing: Bool) -> Result<FileDescriptor, Errno> {
        let flags = MP_MFD_CLOEXEC | (allowSealing ? MP_MFD_ALLOW_SEALING : 0)
        return valueOrErrno { mp_memfd_create(name, flags) }.map(FileDescriptor.init(rawValue:))
    }

    /// A new anonymous memory file of size 0, close-on-exec: grow it with
    /// ``truncate(toSize:)`` (pages are allocated only when touched, so a large size is
    /// sparse), map it with ``MappedRegion``, hand it to a child as a spawn descriptor. `name`
    /// only shows in `/proc/PID/fd` ("/memfd:NAME (deleted)"). The caller owns the descriptor
    /// (nothing is open on failure); the memory lives while any descriptor or mapping refers
    /// to it.
    /// The corresponding C function is `memfd_create(MFD_CLOEXEC)`.
    static func memoryFile(name: String, allowSealing: Bool = false) throws(SystemError) -> FileDescriptor {
        try _memoryFile(name: name, allowSealing: allowSealing).get("memfd_create", .name(name))
    }

    func _truncate(toSize size: Int) -> Result<Void, Errno> {
        nothingOrErrno { ftruncate(rawValue, off_t(size)) }
    }

    /// Sets the file's size to `size` bytes, zero-filled when it grows.
    /// The corresponding C function is `ftruncate`.
    func truncate(toSize size: Int) throws(SystemError) {
        try _truncate(toSize: size).get("ftruncate", subject)
    }

    func _fileSize() -> Result<Int, Errno> {
        var info = stat()
        return nothingOrErrno { fstat(rawValue, &info) }.map { Int(info.st_size) }
    }

    /// The file's size in bytes. The corresponding C function is `fstat`.
    func fileSize() throws(SystemError) -> Int {
        try _fileSize().get("fstat", subject)
    }

    static func _openSharedMemory(name: String, create: Bool, exclusive: Bool,
                                  permissions: mode_t) -> Result<FileDescriptor, Errno> {
        var flags = O_RDWR | O_CLOEXEC
        if create { flags |= O_CREAT }
        if exclusive { flags |= O_EXCL }
        return valueOrErrno { shm_open(name, flags, permissions) }.map(FileDescriptor.init(rawValue:))
    }

    /// Opens (and with `create`, creates; with `exclusive`, fails with `EEXIST` if it exists)
    /// the named shared memory object `name` ("/mp-1234-0", a file in `/dev/shm`), read-write
    /// and close-on-exec. A new object has size 0: ``truncate(toSize:)`` it. The caller owns
    /// the descriptor (nothing is open on failure); the name stays until
    /// ``unlinkSharedMemory(name:)``, whoever created it and whatever processes die. The corresponding C function is `shm_open`.
    static func openSharedMemory(name: String, create: Bool = false, exclusive: Bool = false,
                                 permissions: mode_t = 0o600) throws(SystemError) -> FileDescriptor {
        try _openSharedMemory(name: name, create: create, exclusive: exclusive, permissions: permissions)
            .get("shm_open", .name(name))
    }

    static func _unlinkSharedMemory(name: String) -> Result<Void, Errno> {
        nothingOrErrno { shm_unlink(name) }
    }

    /// Removes the name `name` from `/dev/shm`; open descriptors and mappings stay valid until
    /// closed and unmapped. The corresponding C function is `shm_unlink`.
    static func unlinkSharedMemory(name: String) throws(SystemError) {
        try _unlinkSharedMemory(name: name).get("shm_unlink", .name(name))
    }
}

// MARK: - Mappings

/// A shared, read-write mapping of a file (a memfd, a shared memory object) that unmaps
/// itself.
///
/// Lifetime: the memory at ``baseAddress`` is valid from `init` until the region is
/// deinitialized, and not one moment longer: a pointer taken from it must not outlive the
/// region (keep the region in a stored property next to the pointer, or use
/// `withExtendedLifetime`). The mapping does not need the descriptor: closing the descriptor
/// after `init` is fine, and the region never closes it. `MAP_SHARED`: every mapping of the
/// same file, in this or any other process, sees the same bytes.
///
/// `@unchecked Sendable`: the region's own state is immutable; what other processes and
/// threads do with the bytes is the caller's synchronization business (locks and atomics
/// in the arena).
final class MappedRegion: @unchecked Sendable {
    /// The first byte of the mapping (page aligned).
    let baseAddress: UnsafeMutableRawPointer
    /// The size of the mapping in bytes.
    let count: Int

    static func _map(_ fd: FileDescriptor?, size: Int, offset: Int, writable: Bool) -> Result<UnsafeMutableRawPointer, Errno> {
        let protection = PROT_READ | (writable ? PROT_WRITE : 0)
        let flags = MAP_SHARED | (fd == nil ? MAP_ANONYMOUS : 0)
        let address = mmap(nil, size, protection, flags, fd?.rawValue ?? -1, off_t(offset))
        // MAP_FAILED is ((void *)-1), which Swift does not import.
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else { return .failure(.current) }
        return .success(address)
    }

    /// Maps `size` bytes of `fd` from `offset` (a multiple of the page size), shared, readable
    /// and (unless `writable` is false) writable. The descriptor stays the caller's, open or
    /// not, on success and on failure. The corresponding C function is `mmap(MAP_SHARED)`.
    init(mapping fd: FileDescriptor, size: Int, offset: Int = 0, writable: Bool = true) throws(SystemError) {
        guard size > 0 else {
            throw SystemError(.invalidArgument, operation: "mmap", subject: fd.subject, detail: "size \(size)")
        }
        baseAddress = try MappedRegion._map(fd, size: size, offset: offset, writable: writable).get("mmap", fd.subject)
        count = size
    }

    /// Maps `size` bytes of anonymous shared memory: shared with children only through
    /// `fork` (which this project never uses), so mostly for tests and scratch.
    /// The corresponding C function is `mmap(MAP_SHARED | MAP_ANONYMOUS)`.
    init(anonymousSize size: Int) throws(SystemError) {
        guard size > 0 else {
            throw SystemError(.invalidArgument, operation: "mmap", detail: "size \(size)")
        }
        baseAddress = try MappedRegion._map(nil, size: size, offset: 0, writable: true).get("mmap")
        count = size
    }

    /// The mapping's bytes.
    var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: baseAddress, count: count) }

    /// Unmaps. The corresponding C function is `munmap` (it fails only for a bad range, which
    /// this type never passes).
    deinit { munmap(baseAddress, count) }

    /// The system page size. The corresponding C function is `sysconf(_SC_PAGESIZE)`.
    static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
}
