/// Where a primitive's shared state lives: normally a block of the process tree's ``Arena``
/// (with the ``ArenaHandle`` that finds it again in any process), or, for tests of the raw
/// layer, memory the caller maps itself.
///
/// An arena block is freed with its last handle, in every process (``ArenaReference``): the
/// placement holds this process's count, an encoding holds one until it is decoded, so a handle
/// sent to another process stays valid however soon the sender drops its own.
struct SharedPlacement: @unchecked Sendable {   // a pointer into memory that `owner` keeps mapped
    /// The first byte of the state in this process.
    let pointer: UnsafeMutableRawPointer
    /// The arena block, or nil for memory placed by the caller (not `Codable` then).
    let handle: ArenaHandle?
    /// What keeps the memory mapped while this placement is used: this handle's
    /// ``ArenaReference`` (which frees the block with the last one), or the caller's mapping.
    let owner: AnyObject

    /// Fresh zero-filled memory in `arena` for a new primitive of `byteCount` bytes.
    static func allocate(byteCount: Int, alignment: Int, tag: UInt64, _ what: String, in arena: Arena) throws(SynchronizationError) -> SharedPlacement {
        do throws(SharedMemoryError) {
            let allocation = try arena.allocate(byteCount: byteCount, alignment: alignment, tag: tag)
            return SharedPlacement(pointer: allocation.pointer, handle: allocation.handle,
                                   owner: ArenaReference(adopting: allocation.handle, in: arena))
        } catch {
            throw .sharedMemory(error, "\(what): allocating its shared state")
        }
    }

    /// The memory of a primitive another process created, found by its handle (checked: this
    /// arena's, not freed, of `byteCount` bytes, allocated for the type `tag`). The placement
    /// adopts the count its encoding took (``handleForEncoding(_:_:)``). The arena is the one
    /// `decoder` names, else the default runtime's (``ArenaSources/forDecoding(_:)``).
    static func resolve(_ handle: ArenaHandle, byteCount: Int, tag: UInt64, _ what: String, decoder: any Decoder) throws(SynchronizationError) -> SharedPlacement {
        do throws(SharedMemoryError) {
            let arena = try ArenaSources.forDecoding(decoder)
            let pointer = try arena.resolve(handle, expectedByteCount: byteCount, expectedTag: tag)
            return SharedPlacement(pointer: pointer, handle: handle, owner: ArenaReference(adopting: handle, in: arena))
        } catch {
            throw .sharedMemory(error, "\(what): finding its shared state")
        }
    }

    /// The arena holding this placement (nil for memory the caller placed).
    var arena: Arena? { (owner as? ArenaReference)?.arena }

    /// The handle, for `encode(to:)`, counted as one more holder of the block until a decoder
    /// adopts it (``Arena/retainHandle(_:)``); a primitive placed in the caller's own memory
    /// cannot travel.
    func handleForEncoding(_ what: String, _ encoder: any Encoder) throws -> ArenaHandle {
        guard let handle, let reference = owner as? ArenaReference else {
            throw EncodingError.invalidValue(what, .init(codingPath: encoder.codingPath,
                debugDescription: "\(what) lives outside the arena (placed in the caller's memory), so it cannot be sent to another process"))
        }
        try reference.arena.retainHandle(handle)
        return handle
    }

    /// The type tags stored with each primitive's arena block: a handle of one kind decoded as
    /// another is refused (`typeMismatch`) instead of misread. "MPSY" + a number.
    enum Tag {
        static let lock: UInt64 = 0x4D50_5359_0000_0001
        static let rlock: UInt64 = 0x4D50_5359_0000_0002
        static let semaphore: UInt64 = 0x4D50_5359_0000_0003
        static let boundedSemaphore: UInt64 = 0x4D50_5359_0000_0004
        static let condition: UInt64 = 0x4D50_5359_0000_0005
        static let event: UInt64 = 0x4D50_5359_0000_0006
        static let barrier: UInt64 = 0x4D50_5359_0000_0007
    }
}
