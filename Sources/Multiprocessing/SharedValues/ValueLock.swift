/// Which lock guards a ``SharedValue`` or a ``SharedArray``: Python's `lock=` argument of
/// `multiprocessing.Value` and `Array`, spelled out.
///
/// Python's `lock=True` (and `None`) makes a new `RLock`: ``reentrant``, the default.
/// `lock=False` makes a raw value without a lock (`RawValue`/`RawArray`): ``none``. `lock=l`
/// shares an existing lock between values: ``using(_:)``. A plain ``Lock`` (not reentrant, a
/// little cheaper to release) is ``plain``.
///
/// ```swift
/// let total = try SharedValue<Int>(0)                          // a new RLock
/// let guarded = try RLock()
/// let low = try SharedValue<Int>(0, lock: .using(guarded))      // two values, one lock
/// let high = try SharedValue<Int>(100, lock: .using(guarded))
/// let raw = try SharedArray<Double>(repeating: 0, count: 1024, lock: .none)
/// ```
public enum ValueLock: Sendable {
    /// A new ``RLock`` (the default, as Python's): `withLock` may be nested in one thread, and
    /// ``SharedValue/load()`` works inside ``SharedValue/withLock(_:)``.
    case reentrant
    /// A new ``Lock``: not reentrant (a nested acquisition by its holder throws
    /// ``SynchronizationError/Code/wouldDeadlock``).
    case plain
    /// An existing ``Lock`` or ``RLock``, shared with whatever else uses it.
    case using(SharedLock)
    /// No lock: Python's `lock=False` (`RawValue`, `RawArray`). Accesses are not synchronized,
    /// and `withLock` throws ``SharedMemoryError/Code/noLock``.
    case none

    /// The lock this choice gives (a new one in `arena` for ``reentrant`` and ``plain``).
    func makeLock(in arena: Arena) throws -> SharedLock? {
        switch self {
        case .reentrant: try RLock(in: arena)
        case .plain: try Lock(in: arena)
        case .using(let lock): lock
        case .none: nil
        }
    }
}

/// A value's or an array's lock in their `Codable` form, beside the block's fields:
/// `{"lock": <the lock's handle>, "reentrant": Bool}`.
enum ValueLockCoding {
    static func encode(_ lock: SharedLock?, into container: inout KeyedEncodingContainer<SharedBlock.CodingKeys>) throws {
        guard let lock else { return }
        try container.encode(lock, forKey: .lock)
        try container.encode(lock is RLock, forKey: .reentrant)
    }

    static func decode(from container: KeyedDecodingContainer<SharedBlock.CodingKeys>) throws -> SharedLock? {
        guard container.contains(.lock) else { return nil }
        return try container.decode(Bool.self, forKey: .reentrant)
            ? try container.decode(RLock.self, forKey: .lock) : try container.decode(Lock.self, forKey: .lock)
    }
}
