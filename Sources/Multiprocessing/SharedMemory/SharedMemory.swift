import Synchronization

/// A named block of shared memory of any size: Python's
/// `multiprocessing.shared_memory.SharedMemory`, a POSIX shared memory object in `/dev/shm`.
///
/// Create one with ``init(size:name:)`` (a name is chosen when none is given), attach to it
/// from any process with ``init(attaching:)`` (or by decoding it: a `SharedMemory` is
/// `Codable` as its name and size, so it can be sent at spawn or in any message), read and
/// write its ``buffer``, ``close()`` it in each process when done, and ``unlink()`` it once.
///
/// The supervisor is the resource tracker: a segment created by any process of the tree is
/// recorded in the arena until it is unlinked, and the root process unlinks whatever is left
/// when it exits, normally or on SIGINT/SIGTERM, also when the creator crashed (and a tracker
/// process does it when the root is killed with SIGKILL). So nothing stays in `/dev/shm` after
/// the program, except a segment created with `track: false`, which the program owns and
/// unlinks itself (Python 3.13's `track=False`).
///
/// ```swift
/// let segment = try SharedMemory(size: 1 << 20)
/// segment.buffer.storeBytes(of: 42, as: Int.self)
/// let total = try await ChildProcess.run(sumSegment, segment)   // the child attaches by name
/// segment.close()
/// try segment.unlink()
/// ```
public final class SharedMemory: Sendable, Codable, CustomStringConvertible {
    /// The segment's name, without the leading slash (Python's `name`): the file
    /// `/dev/shm/NAME`.
    public let name: String
    /// The segment's size in bytes.
    public let size: Int
    private let region: Mutex<MappedRegion?>
    /// The arena whose segment table ``unlink()`` removes the name from (the creator's, or the
    /// runtime's that attached; nil: no table to update).
    let tracker: Arena?
    // Immutable; valid while `region` holds the mapping.
    nonisolated(unsafe) private let start: UnsafeMutableRawPointer

    /// The longest name a segment can have.
    public static var maximumNameLength: Int { Arena.maximumSegmentNameLength }

    private init(name: String, size: Int, region: MappedRegion, tracker: Arena?) {
        self.tracker = tracker
        self.name = name
        self.size = size
        self.start = region.baseAddress
        self.region = Mutex(region)
    }

    /// "/NAME", what `shm_open` takes.
    static func systemName(_ name: String) -> String { "/" + name }

    private static func checkName(_ name: String) throws(SharedMemoryError) -> String {
        let bare = name.hasPrefix("/") ? String(name.dropFirst()) : name
        guard !bare.isEmpty, !bare.contains("/"), bare != ".", bare != "..", !bare.utf8.contains(0),
              bare.utf8.count <= maximumNameLength else {
            throw SharedMemoryError(.invalidArgument, "\"\(name)\" is not a valid segment name (1 to \(maximumNameLength) bytes, no \"/\" after the first character)")
        }
        return bare
    }

    /// Creates a segment of `size` bytes (zero-filled) named `name`, or a fresh name like
    /// "mp_1f3a9c2e" when nil, and registers it with the tracker unless `track` is false.
    ///
    /// `track: false` is Python 3.13's `track=False`: the tracker does not know the segment,
    /// so it stays in `/dev/shm` after this process and the whole program exit, until someone
    /// calls ``unlink()`` (or ``unlink(name:)``); use it for a segment meant to outlive the
    /// program or owned by another.
    ///
    /// Throws ``SharedMemoryError/Code/invalidArgument`` for a size of 0 or less or a bad
    /// name, ``SharedMemoryError/Code/tooLarge`` when `/dev/shm` has not that much room left,
    /// ``SharedMemoryError/Code/segmentExists`` when the name is taken,
    /// ``SharedMemoryError/Code/tooManySegments`` when the tracker is full,
    /// ``SharedMemoryError/Code/arenaUnavailable`` in a process without an arena (a tracked
    /// segment needs one).
    ///
    /// `tracker` is the arena whose segment table tracks it (nil: `track: false`);
    /// `SharedMemory(size:name:track:)`, in Runtime/, passes the default runtime's.
    convenience init(size: Int, name: String? = nil, tracker arena: Arena?) throws(SharedMemoryError) {
        guard size > 0 else {
            throw SharedMemoryError(.invalidArgument, "a shared memory segment needs a size above 0 bytes, not \(size)")
        }
        if let available = try? FileSystemSpace.availableBytes(at: "/dev/shm"), size > available {
            throw SharedMemoryError(.tooLarge, "a segment of \(size) bytes does not fit: /dev/shm has \(available) bytes left")
        }
        let requested = try name.map { (name) throws(SharedMemoryError) in try Self.checkName(name) }
        let fd: FileDescriptor
        let segmentName: String
        // A random name that happens to exist is drawn again; a requested one is an error.
        while true {
            let candidate = requested ?? "mp_" + String(UInt32.random(in: 0...UInt32.max) | 0x1000_0000, radix: 16)
            do {
                fd = try FileDescriptor.openSharedMemory(name: Self.systemName(candidate), create: true, exclusive: true)
                segmentName = candidate
                break
            } catch where error.underlyingError == .fileExists {
                if requested != nil { throw SharedMemoryError(.segmentExists, "a shared memory segment named \"\(candidate)\" exists already") }
            } catch {
                throw SharedMemoryError(error, "creating the segment \"\(candidate)\"")
            }
        }
        defer { try? fd.close() }
        do {
            try arena?.registerSegment(segmentName)
        } catch {
            _ = FileDescriptor._unlinkSharedMemory(name: Self.systemName(segmentName))
            throw error
        }
        do throws(SystemError) {
            try fd.truncate(toSize: size)
            self.init(name: segmentName, size: size, region: try MappedRegion(mapping: fd, size: size), tracker: arena)
        } catch {
            _ = FileDescriptor._unlinkSharedMemory(name: Self.systemName(segmentName))
            _ = try? arena?.unregisterSegment(segmentName)
            throw SharedMemoryError(error, "setting up the segment \"\(segmentName)\" of \(size) bytes")
        }
    }

    /// Attaches to the existing segment `name` (with or without its leading slash), mapping all
    /// of it. Throws ``SharedMemoryError/Code/segmentNotFound`` when there is none,
    /// ``SharedMemoryError/Code/invalidArgument`` for a bad name or an empty segment.
    /// ``unlink()`` removes the name from `tracker`'s segment table (the attaching runtime's).
    convenience init(attaching name: String, tracker: Arena?) throws(SharedMemoryError) {
        let bare = try Self.checkName(name)
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.openSharedMemory(name: Self.systemName(bare))
        } catch where error.underlyingError == .noSuchFileOrDirectory {
            throw SharedMemoryError(.segmentNotFound, "no shared memory segment is named \"\(bare)\" (/dev/shm/\(bare))")
        } catch {
            throw SharedMemoryError(error, "attaching to the segment \"\(bare)\"")
        }
        defer { try? fd.close() }
        do throws(SystemError) {
            let size = try fd.fileSize()
            guard size > 0 else {
                throw SystemError(.invalidArgument, operation: "mmap", subject: .name(bare), detail: "the segment is empty")
            }
            self.init(name: bare, size: size, region: try MappedRegion(mapping: fd, size: size), tracker: tracker)
        } catch {
            throw SharedMemoryError(error.code == .invalidArgument ? .invalidArgument : .systemCallFailed,
                                    "attaching to the segment \"\(bare)\": \(error)", underlyingError: error)
        }
    }

    /// The segment's bytes, mapped in this process. Valid until ``close()`` (then empty); use
    /// ``withUnsafeMutableBytes(_:)`` when another thread may close it.
    public var buffer: UnsafeMutableRawBufferPointer {
        region.withLock { $0 == nil ? UnsafeMutableRawBufferPointer(start: nil, count: 0) : UnsafeMutableRawBufferPointer(start: start, count: size) }
    }

    /// Runs `body` on the segment's bytes, keeping them mapped meanwhile. Throws
    /// ``SharedMemoryError/Code/closed`` after ``close()``, and whatever `body` throws.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        guard let mapping = region.withLock({ $0 }) else {
            throw SharedMemoryError(.closed, "the segment \"\(name)\" was closed in this process")
        }
        return try withExtendedLifetime(mapping) { try body(UnsafeMutableRawBufferPointer(start: start, count: size)) }
    }

    /// ``withUnsafeMutableBytes(_:)`` for a body that throws only `SharedMemoryError`.
    func withMappedBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws(SharedMemoryError) -> R) throws(SharedMemoryError) -> R {
        guard let mapping = region.withLock({ $0 }) else {
            throw SharedMemoryError(.closed, "the segment \"\(name)\" was closed in this process")
        }
        defer { withExtendedLifetime(mapping) {} }
        return try body(UnsafeMutableRawBufferPointer(start: start, count: size))
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { region.withLock { $0 == nil } }

    /// Unmaps the segment in this process (Python's `close()`); the segment itself stays
    /// until ``unlink()``. Closing twice does nothing. Dropping the last reference closes too.
    public func close() {
        let mapping = region.withLock { region -> MappedRegion? in
            defer { region = nil }
            return region
        }
        _ = mapping   // unmapped here, outside the lock
    }

    /// Removes the segment's name from `/dev/shm` and from the tracker (Python's `unlink()`),
    /// from any process; mappings stay valid until closed. Throws
    /// ``SharedMemoryError/Code/segmentNotFound`` if it was unlinked already.
    public func unlink() throws(SharedMemoryError) {
        try Self.unlink(name: name, tracker: tracker)
    }

    /// Unlinks the segment `name` and removes it from `tracker`'s segment table (see
    /// ``unlink()``); `SharedMemory.unlink(name:)`, in Runtime/, passes the default runtime's.
    static func unlink(name: String, tracker: Arena?) throws(SharedMemoryError) {
        let bare = try checkName(name)
        let result = FileDescriptor._unlinkSharedMemory(name: systemName(bare))
        _ = try? tracker?.unregisterSegment(bare)
        switch result {
        case .success: return
        case .failure(.noSuchFileOrDirectory):
            throw SharedMemoryError(.segmentNotFound, "cannot unlink \"\(bare)\": no shared memory segment has that name")
        case .failure(let errno):
            throw SharedMemoryError(SystemError(errno, operation: "shm_unlink", subject: .name(bare)), "unlinking the segment \"\(bare)\"")
        }
    }

    public var description: String { "SharedMemory(\"\(name)\", \(size) bytes\(isClosed ? ", closed" : ""))" }

    private enum CodingKeys: String, CodingKey { case name, size }

    /// Encodes the name and size; the receiver attaches by name.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(size, forKey: .size)
    }

    /// Attaches to the segment an encoded one names. Throws ``SharedMemoryError/Code/segmentNotFound``
    /// when it is gone, ``SharedMemoryError/Code/sizeMismatch`` when a segment of that name
    /// has another size now.
    public convenience init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .name)
        let size = try container.decode(Int.self, forKey: .size)
        try self.init(attaching: name, tracker: try? ArenaSources.forDecoding(decoder))
        guard self.size == size else {
            throw SharedMemoryError(.sizeMismatch, "the segment \"\(name)\" has \(self.size) bytes, not the \(size) it was sent with")
        }
    }
}
