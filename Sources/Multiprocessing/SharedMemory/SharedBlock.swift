/// The arena block behind a shared value, array or atomic: its handle, where it is mapped
/// here, and the checks and the `Codable` form they share.
///
/// The block holds the data only; a value's or array's lock is a primitive of its own (as
/// Python's `Value` wraps its ctypes object with a separate `RLock`), encoded beside the block
/// by `SharedValues/`.
///
/// Copies of a `SharedBlock` share one ``ArenaReference``: the block is freed when the last
/// copy in the last process is gone (or by an explicit `free()`).
@usableFromInline
struct SharedBlock: @unchecked Sendable, Hashable {   // `pointer` is into the arena, which `reference` keeps
    @usableFromInline let handle: ArenaHandle
    /// The block's first byte in this process (the arena is never unmapped).
    @usableFromInline let pointer: UnsafeMutableRawPointer
    /// This process's hold on the block.
    let reference: ArenaReference

    @usableFromInline static func == (a: SharedBlock, b: SharedBlock) -> Bool { a.handle == b.handle }
    @usableFromInline func hash(into hasher: inout Hasher) { hasher.combine(handle) }

    /// Allocates `byteCount` bytes for `kind` (a type, for its tag and for messages) in `arena`.
    static func allocate(byteCount: Int, alignment: Int, kind: Any.Type, zeroed: Bool = true,
                         in arena: Arena) throws(SharedMemoryError) -> SharedBlock {
        guard alignment <= ArenaLayout.blockHeaderSize else {
            throw SharedMemoryError(.invalidArgument, "\(String(reflecting: kind)): an alignment of \(alignment) bytes is more than the arena's \(ArenaLayout.blockHeaderSize)")
        }
        let allocation = try arena.allocate(byteCount: byteCount, alignment: max(alignment, 1), tag: ArenaLayout.typeTag(kind), zeroed: zeroed)
        return SharedBlock(handle: allocation.handle, pointer: allocation.pointer, reference: ArenaReference(adopting: allocation.handle, in: arena))
    }

    /// The block of a handle received from another process (or this one), checked; adopts the
    /// count its encoding took (``encode(into:type:count:)``).
    static func attach(_ handle: ArenaHandle, byteCount: Int, kind: Any.Type, in arena: Arena) throws(SharedMemoryError) -> SharedBlock {
        let pointer = try arena.resolve(handle, expectedByteCount: byteCount, expectedTag: ArenaLayout.typeTag(kind))
        return SharedBlock(handle: handle, pointer: pointer, reference: ArenaReference(adopting: handle, in: arena))
    }

    /// Throws ``SharedMemoryError/Code/staleHandle`` once the block was freed (by any process).
    /// Inlinable: it runs before every access, also from other modules (a benchmark's loop).
    @inlinable @inline(__always)
    func checkCurrent(_ kind: @autoclosure () -> String) throws(SharedMemoryError) {
        // The block header's generation word: 64 bytes before the data, + 8 (ArenaLayout).
        let generation = pointer.load(fromByteOffset: -56, as: UInt64.self)
        if generation != handle.generation { throw staleHandleError(kind()) }
    }

    @usableFromInline
    func staleHandleError(_ kind: String) -> SharedMemoryError {
        SharedMemoryError(.staleHandle, "\(kind) at offset \(handle.offset) was freed; this handle (generation \(handle.generation)) is stale")
    }

    func free(_ kind: String) throws(SharedMemoryError) {
        do { try reference.arena.free(handle) } catch {
            throw SharedMemoryError(error.code, "\(kind): \(error.message)")
        }
    }

    // MARK: Codable form: {"handle": {...}, "type": "Swift.Int", "count": n, "lock": {...}, "reentrant": true}
    // (`lock` and `reentrant` are written by SharedValues/, for a value or array with a lock.)

    enum CodingKeys: String, CodingKey { case handle, type, count, lock, reentrant }

    /// Encodes the handle into `container`, counted as one more holder until a decoder adopts
    /// it (``Arena/retainHandle(_:)``).
    func encode(into container: inout KeyedEncodingContainer<CodingKeys>, type: Any.Type, count: Int?) throws {
        try reference.arena.retainHandle(handle)
        try container.encode(handle, forKey: .handle)
        try container.encode(String(reflecting: type), forKey: .type)
        try container.encodeIfPresent(count, forKey: .count)
    }

    /// The handle and count of an encoded block, after checking its element type is `type`.
    static func decodeFields(from container: KeyedDecodingContainer<CodingKeys>, type: Any.Type,
                             kind: String) throws -> (handle: ArenaHandle, count: Int?) {
        let handle = try container.decode(ArenaHandle.self, forKey: .handle)
        let encodedType = try container.decode(String.self, forKey: .type)
        guard encodedType == String(reflecting: type) else {
            throw SharedMemoryError(.typeMismatch, "\(kind) cannot attach to the \(handle): it holds \(encodedType), not \(String(reflecting: type))")
        }
        return (handle, try container.decodeIfPresent(Int.self, forKey: .count))
    }
}
