/// Makes ``SharedMemory`` segments and ``ShareableList``s and unlinks every one of them at
/// ``shutdown()``: Python's `multiprocessing.managers.SharedMemoryManager`.
///
/// Python runs a server process that children report their segments to. Here the supervisor's
/// segment tracker already records every tracked segment of the process tree in the arena, so
/// the manager needs no server: every segment it makes is named with its own prefix
/// ("mpm_1f3a9c2e_..."), and ``shutdown()`` unlinks each tracked name that has that prefix,
/// whichever process made it. A manager is `Codable` (its prefix and a shared "stopped" flag):
/// send it to a child, which makes segments through it; they are freed with the others. After
/// a shutdown, in any process, the manager makes nothing more
/// (``SharedMemoryError/Code/stopped``), and a segment a child was making meanwhile is either
/// unlinked by the shutdown or by the child itself.
///
/// The manager made with ``init()`` shuts down when it is deinitialized; decoded copies do
/// not. What is left when the program ends (a manager never shut down, a child that died) is
/// unlinked by the tracker, as for any tracked segment.
///
/// ```swift
/// let manager = try SharedMemoryManager()
/// let buffer = try manager.sharedMemory(size: 4096)
/// let list = try manager.shareableList([0, 0.0, "        "])
/// _ = try await ChildProcess.run(fill, manager)    // the child calls manager.sharedMemory(size:) too
/// manager.shutdown()                                // all three segments are gone from /dev/shm
/// ```
public final class SharedMemoryManager: Sendable, Codable, CustomStringConvertible {
    /// The start of every segment name this manager makes: "mpm_" + 8 hex digits + "_".
    public let namePrefix: String
    /// 1 once any copy shut the manager down.
    private let stopped: SharedAtomic<Int>
    /// The arena whose segment table tracks the segments.
    private let arena: Arena
    /// Whether this is the instance that made the manager (its deinit shuts it down).
    private let isOwner: Bool

    /// A manager whose segments `arena` tracks. `SharedMemoryManager()`, in Runtime/, passes
    /// the default runtime's. Throws ``SharedMemoryError/Code/arenaExhausted`` when the arena
    /// has no room for its flag.
    init(arena: Arena) throws(SharedMemoryError) {
        let tracked = try arena.trackedSegmentNames()
        var prefix: String
        // A prefix no tracked segment has: a shutdown must not unlink another manager's.
        repeat {
            prefix = "mpm_" + String(UInt32.random(in: 0...UInt32.max) | 0x1000_0000, radix: 16) + "_"
        } while tracked.contains { $0.hasPrefix(prefix) }
        namePrefix = prefix
        stopped = try SharedAtomic(0, in: arena)
        self.arena = arena
        isOwner = true
    }

    deinit {
        if isOwner { shutdown() }
    }

    /// Whether the manager was shut down, in any process.
    public var isShutDown: Bool { (try? stopped.load()) != 0 }

    /// The names of the segments the manager made that are still linked (Python's
    /// `SharedMemoryServer.list_segments`), from every process.
    public var segmentNames: [String] {
        ((try? arena.trackedSegmentNames()) ?? []).filter { $0.hasPrefix(namePrefix) }
    }

    /// A new zero-filled segment of `size` bytes (Python's `SharedMemoryManager.SharedMemory(size)`),
    /// unlinked at ``shutdown()``. Throws ``SharedMemoryError/Code/stopped`` after it, and as
    /// ``SharedMemory/init(size:name:track:)`` does.
    public func sharedMemory(size: Int) throws(SharedMemoryError) -> SharedMemory {
        try make { (name) throws(SharedMemoryError) in try SharedMemory(size: size, name: name, tracker: arena) } release: { $0.close() }
    }

    /// A new ``ShareableList`` of `elements` (Python's `SharedMemoryManager.ShareableList(sequence)`),
    /// unlinked at ``shutdown()``. Throws ``SharedMemoryError/Code/stopped`` after it, and as
    /// ``ShareableList`` does.
    public func shareableList(_ elements: [ShareableList.Element]) throws(SharedMemoryError) -> ShareableList {
        try make { (name) throws(SharedMemoryError) in try ShareableList(elements, name: name, tracker: arena) } release: { $0.close() }
    }

    /// Makes a segment through `create` under a fresh name with the prefix. Checks the flag
    /// after the segment is registered too: a shutdown that set it before saw nothing of this
    /// segment, so the segment is unlinked here; one that set it after finds it in the table.
    private func make<Made>(_ create: (String) throws(SharedMemoryError) -> Made,
                            release: (Made) -> Void) throws(SharedMemoryError) -> Made {
        try checkRunning()
        while true {
            let name = namePrefix + String(UInt32.random(in: 0...UInt32.max) | 0x1000_0000, radix: 16)
            let made: Made
            do {
                made = try create(name)
            } catch where error.code == .segmentExists {
                continue
            }
            do {
                try checkRunning()
            } catch {
                release(made)
                _ = try? SharedMemory.unlink(name: name, tracker: arena)
                throw error
            }
            return made
        }
    }

    private func checkRunning() throws(SharedMemoryError) {
        // A read-modify-write, a full barrier: the segment's registration is visible before
        // the flag is read. A freed flag means the manager is gone.
        let value: Int
        do { value = try stopped.add(0) } catch { value = 1 }
        if value != 0 {
            throw SharedMemoryError(.stopped, "the SharedMemoryManager \(namePrefix)* was shut down: it makes no more segments")
        }
    }

    /// Unlinks every segment the manager made, in every process, and makes it refuse to make
    /// more (Python's `shutdown()`). Mappings stay valid until closed. Twice is harmless; any
    /// copy of the manager can call it.
    public func shutdown() {
        _ = try? stopped.exchange(1)   // a full barrier before the table is read
        for name in segmentNames {
            _ = try? SharedMemory.unlink(name: name, tracker: arena)
        }
    }

    public var description: String {
        "SharedMemoryManager(\(namePrefix)*, \(isShutDown ? "shut down" : "\(segmentNames.count) segments"))"
    }

    private enum CodingKeys: String, CodingKey { case prefix, stopped }

    /// Encodes the prefix and the stopped flag's handle.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(namePrefix, forKey: .prefix)
        try container.encode(stopped, forKey: .stopped)
    }

    /// A copy of an encoded manager, in the decoder's runtime's arena (the default's when the
    /// decoder names none); its deinit does not shut the manager down.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        namePrefix = try container.decode(String.self, forKey: .prefix)
        stopped = try container.decode(SharedAtomic<Int>.self, forKey: .stopped)
        arena = try ArenaSources.forDecoding(decoder)
        isOwner = false
    }
}
