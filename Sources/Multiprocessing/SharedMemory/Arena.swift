import Synchronization

/// Where a piece of the arena is: what a shared value, array, atomic or lock carries across
/// processes (at spawn, inside any message) to find its memory again.
///
/// `generation` is the allocation's serial number: freeing the memory and allocating it again
/// gives it a new one, so a handle kept past ``Arena/free(_:)`` is refused
/// (``SharedMemoryError/Code/staleHandle``), never read as someone else's data.
@usableFromInline
struct ArenaHandle: Codable, Hashable, Sendable, CustomStringConvertible {
    /// The arena's id (random, chosen when the root process created it).
    var arena: UInt64
    /// The first byte of the allocation, from the start of the arena.
    @usableFromInline var offset: UInt64
    /// The bytes asked for.
    var byteCount: UInt64
    /// The allocation's serial number (never 0).
    @usableFromInline var generation: UInt64

    @usableFromInline var description: String { "arena handle at offset \(offset) (\(byteCount) bytes, generation \(generation))" }
}

/// Memory just allocated: its handle and where it is mapped in this process.
struct ArenaAllocation {
    var handle: ArenaHandle
    /// The first byte, 64-byte aligned, zero-filled.
    var pointer: UnsafeMutableRawPointer
}

/// The process tree's shared memory: one sparse memory file (memfd) created by a root
/// runtime (the one `bootstrap` makes in the program the user started, or one a test makes),
/// handed to every child its supervisor spawns (`MP_FDS=arena:N`) and mapped by each at the
/// same size; a child's runtime holds the one it inherited (``ArenaSlot``). Shared values, arrays,
/// atomics and locks are allocated in it; any process can allocate and free.
///
/// Layout (``ArenaLayout``): a header page (identity, the allocator's bump pointer, free
/// lists, write-ahead journal and robust mutex), the segment table (names of live
/// `SharedMemory` segments, for the exit-time cleanup), then blocks. See docs/ARCHITECTURE.md.
///
/// The memory file lives as long as any process of the tree maps it; a block in it is freed
/// with its last handle (``ArenaReference``) or by an explicit ``free(_:)``.
// Unchecked: immutable after init; the shared bytes are ordered by `mutex` (a robust mutex) and atomics.
final class Arena: @unchecked Sendable {
    /// The mapping (unmapped with the arena's last holder).
    let region: MappedRegion
    /// The memory file, kept open to hand to children (close-on-exec).
    let descriptor: FileDescriptor
    /// The arena's random id, carried by every handle.
    let id: UInt64
    /// Whether this process created the arena (it then cleans up segments at exit).
    let isRoot: Bool

    var base: UnsafeMutableRawPointer { region.baseAddress }
    var size: Int { region.count }
    let mutex: RobustMutex

    private init(region: MappedRegion, descriptor: FileDescriptor, isRoot: Bool) {
        self.region = region
        self.descriptor = descriptor
        self.isRoot = isRoot
        self.mutex = RobustMutex(at: region.baseAddress + ArenaLayout.mutexOffset)
        self.id = region.baseAddress.load(fromByteOffset: ArenaLayout.idOffset, as: UInt64.self)
    }

    /// An arena goes with its last holder: its runtime and every block's ``ArenaReference``
    /// (the default runtime's lives as long as the process).
    deinit { try? descriptor.close() }

    // MARK: making one (a runtime's ArenaSlot holds it)

    /// The label of the arena's descriptor in `MP_FDS`.
    static let descriptorLabel = "arena"

    /// The arena this child inherited (`MP_FDS=arena:N`), mapped. Throws
    /// ``SharedMemoryError/Code/arenaUnavailable`` in a process started without one, or when
    /// it cannot be mapped.
    static func inherited() throws(SharedMemoryError) -> Arena {
        guard let number = ChildEnvironment.inheritedDescriptors()[descriptorLabel] else {
            throw SharedMemoryError(.arenaUnavailable, "this child was started without an arena (no \"\(descriptorLabel)\" in \(ChildEnvironment.descriptors)): a remote worker shares no memory with its supervisor (use a manager's objects and queues there)")
        }
        return try attach(FileDescriptor(rawValue: number))
    }

    /// Creates an arena (a root runtime's, or a private one for tests): a memfd of ``ArenaLayout/reservedSize`` (sparse: pages cost memory
    /// only once touched), mapped, its header written.
    static func create(size: Int = ArenaLayout.reservedSize) throws(SharedMemoryError) -> Arena {
        let descriptor: FileDescriptor
        do { descriptor = try FileDescriptor.memoryFile(name: "mp-arena") } catch {
            throw SharedMemoryError(.arenaUnavailable, "the arena's memory file cannot be created: \(error)", underlyingError: error)
        }
        do throws(SystemError) {
            try descriptor.truncate(toSize: size)
            let region = try MappedRegion(mapping: descriptor, size: size)
            let base = region.baseAddress
            base.storeBytes(of: UInt64.random(in: 1...UInt64.max), toByteOffset: ArenaLayout.idOffset, as: UInt64.self)
            base.storeBytes(of: UInt64(size), toByteOffset: ArenaLayout.sizeOffset, as: UInt64.self)
            base.storeBytes(of: UInt64(ArenaLayout.dataStart), toByteOffset: ArenaLayout.topOffset, as: UInt64.self)
            base.storeBytes(of: ArenaLayout.version, toByteOffset: ArenaLayout.versionOffset, as: UInt64.self)
            let arena = Arena(region: region, descriptor: descriptor, isRoot: true)
            if case .failure(let errno) = RobustMutex.initialize(at: base + ArenaLayout.mutexOffset) {
                throw SystemError(errno, operation: "pthread_mutex_init", subject: .name("mp-arena"))
            }
            // Last: a child that sees the magic sees a whole header.
            base.storeBytes(of: ArenaLayout.magic, toByteOffset: ArenaLayout.magicOffset, as: UInt64.self)
            return arena
        } catch {
            try? descriptor.close()
            throw SharedMemoryError(.arenaUnavailable, "the arena cannot be set up: \(error)", underlyingError: error)
        }
    }

    /// Maps an arena inherited at `descriptor` (which the arena keeps, close-on-exec).
    static func attach(_ descriptor: FileDescriptor) throws(SharedMemoryError) -> Arena {
        do {
            let size = try descriptor.fileSize()
            guard size >= ArenaLayout.dataStart else {
                throw SharedMemoryError(.arenaUnavailable, "fd \(descriptor.rawValue) is not an arena (\(size) bytes)")
            }
            try descriptor.setCloseOnExec(true)
            let region = try MappedRegion(mapping: descriptor, size: size)
            let base = region.baseAddress
            guard base.load(fromByteOffset: ArenaLayout.magicOffset, as: UInt64.self) == ArenaLayout.magic,
                  base.load(fromByteOffset: ArenaLayout.versionOffset, as: UInt64.self) == ArenaLayout.version,
                  base.load(fromByteOffset: ArenaLayout.sizeOffset, as: UInt64.self) == UInt64(size) else {
                throw SharedMemoryError(.arenaUnavailable, "fd \(descriptor.rawValue) is not an arena of this version")
            }
            return Arena(region: region, descriptor: descriptor, isRoot: false)
        } catch let error as SharedMemoryError {
            throw error
        } catch {
            throw SharedMemoryError(.arenaUnavailable, "the inherited arena at fd \(descriptor.rawValue) cannot be mapped: \(error)")
        }
    }

    // MARK: the allocator's public face (ArenaAllocator.swift does the work)

    /// Allocates `byteCount` bytes aligned to `alignment` (a power of two, at most 64), zero
    /// filled (unless `zeroed` is false: the caller writes every byte itself), usable by every
    /// process of the tree until ``free(_:)``. `tag` (a type's
    /// ``ArenaLayout/typeTag(_:)``, or 0) is stored with the block and checked by ``resolve(_:expectedByteCount:expectedTag:)``.
    ///
    /// Throws ``SharedMemoryError/Code/invalidArgument`` for a negative size or a bad
    /// alignment, ``SharedMemoryError/Code/tooLarge`` for a size the arena can never hold,
    /// ``SharedMemoryError/Code/arenaExhausted`` when it is full.
    func allocate(byteCount: Int, alignment: Int = 8, tag: UInt64 = 0, zeroed: Bool = true) throws(SharedMemoryError) -> ArenaAllocation {
        guard byteCount >= 0 else {
            throw SharedMemoryError(.invalidArgument, "cannot allocate \(byteCount) bytes in the arena: the size is negative")
        }
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= ArenaLayout.blockHeaderSize else {
            throw SharedMemoryError(.invalidArgument, "alignment \(alignment) is not a power of two up to \(ArenaLayout.blockHeaderSize)")
        }
        let (handle, recycled) = try withAllocatorLock { () throws(SharedMemoryError) in try allocateLocked(byteCount: byteCount, tag: tag) }
        let pointer = base + Int(handle.offset)
        // A fresh block was never written (the memfd reads as zeros); a recycled one was.
        if recycled && zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        return ArenaAllocation(handle: handle, pointer: pointer)
    }

    /// The memory of `handle` in this process, after checking that it is this arena's, still
    /// allocated under that generation (``SharedMemoryError/Code/staleHandle``), of
    /// `expectedByteCount` bytes (``SharedMemoryError/Code/sizeMismatch``) and, if given, of
    /// the type `expectedTag` (``SharedMemoryError/Code/typeMismatch``).
    func resolve(_ handle: ArenaHandle, expectedByteCount: Int, expectedTag: UInt64? = nil) throws(SharedMemoryError) -> UnsafeMutableRawPointer {
        guard handle.arena == id else {
            throw SharedMemoryError(.foreignHandle, "the \(handle) belongs to arena \(String(handle.arena, radix: 16)), not to this process tree's arena \(String(id, radix: 16))")
        }
        let block = try blockHeader(of: handle)
        guard block.generation == handle.generation else {
            throw SharedMemoryError(.staleHandle, "the \(handle) is stale: its memory was freed"
                + (block.generation == 0 ? "" : " and allocated again (now generation \(block.generation))"))
        }
        if let expectedTag, block.tag != expectedTag {
            throw SharedMemoryError(.typeMismatch, "the \(handle) was allocated for another type (tag \(String(block.tag, radix: 16)), expected \(String(expectedTag, radix: 16)))")
        }
        guard block.byteCount == handle.byteCount else {
            throw SharedMemoryError(.sizeMismatch, "the \(handle) does not match its block (\(block.byteCount) bytes)")
        }
        guard Int(handle.byteCount) == expectedByteCount else {
            throw SharedMemoryError(.sizeMismatch, "the \(handle) holds \(handle.byteCount) bytes, not the \(expectedByteCount) expected")
        }
        return base + Int(handle.offset)
    }

    /// Whether `handle` still refers to its allocation (a cheap check before each access).
    @inline(__always)
    func isCurrent(_ handle: ArenaHandle) -> Bool {
        base.load(fromByteOffset: Int(handle.offset) - ArenaLayout.blockHeaderSize + ArenaLayout.BlockField.generation, as: UInt64.self) == handle.generation
    }

    /// Gives the memory of `handle` back; every copy of the handle, in every process, is
    /// stale from now on. Throws ``SharedMemoryError/Code/staleHandle`` if it was freed
    /// already (a double free is refused, not corrupting).
    func free(_ handle: ArenaHandle) throws(SharedMemoryError) {
        guard handle.arena == id else {
            throw SharedMemoryError(.foreignHandle, "cannot free the \(handle): it belongs to another arena")
        }
        try withAllocatorLock { () throws(SharedMemoryError) in try freeLocked(handle) }
    }
}
