import Synchronization

/// What hands out an arena: the `Runtime` conforms (it sits above every folder, so the folders
/// below name this protocol, never the runtime).
protocol ArenaSource: AnyObject, Sendable {
    /// The arena, made now if it was not. Throws ``SharedMemoryError/Code/arenaUnavailable``.
    func arena() throws(SharedMemoryError) -> Arena
}

/// How a decoded handle (a lock, a value, an array...) finds its arena: the ``ArenaSource`` a
/// decoder's `userInfo` names under ``userInfoKey`` (the runtime key: `Runtime.userInfoKey`
/// is this one), else the default runtime's.
///
/// ```swift
/// let decoder = MessagePackDecoder()
/// decoder.userInfo[ArenaSources.userInfoKey] = runtime      // decode into this runtime's arena
/// let lock = try decoder.decode(Lock.self, from: bytes)
/// ```
enum ArenaSources {
    /// The key under which a decoder's `userInfo` names the runtime (an ``ArenaSource``).
    static let userInfoKey = CodingUserInfoKey(rawValue: "multiprocessing.runtime")!

    // The one process-wide default of the shared-memory folders: a non-final class's
    // `required init(from:)` (SharedLock, Semaphore) must stay in its body, below Runtime.
    private static let fallback = Mutex<(any ArenaSource)?>(nil)

    /// Makes `source` the default (bootstrap installs its runtime).
    static func installDefault(_ source: any ArenaSource) {
        fallback.withLock { $0 = source }
    }

    /// The default runtime's arena. Throws ``SharedMemoryError/Code/notBootstrapped`` before
    /// bootstrap made the default runtime.
    static func defaultArena() throws(SharedMemoryError) -> Arena {
        guard let source = fallback.withLock({ $0 }) else { throw notBootstrapped }
        return try source.arena()
    }

    /// The arena a decoded handle belongs to: the decoder's runtime's, else the default's.
    static func forDecoding(_ decoder: any Decoder) throws(SharedMemoryError) -> Arena {
        if let source = decoder.userInfo[userInfoKey] as? any ArenaSource { return try source.arena() }
        return try defaultArena()
    }

    /// The error of a use of the default arena before bootstrap.
    static var notBootstrapped: SharedMemoryError {
        SharedMemoryError(.notBootstrapped, "no default runtime, so no arena: this program never called Multiprocessing.bootstrap. "
            + "Call it first, at the top of main, or make the primitive in a given runtime's arena")
    }
}
