/// A reentrant lock shared by every process of the tree (Python's `multiprocessing.RLock`):
/// the thread that holds it may acquire it again, and must release it as many times.
///
/// Only the holder may release it (``SynchronizationError/Code/notOwner`` otherwise), and the
/// holder is a *thread*: as ``Lock``, it is held inside synchronous regions
/// (``withLock(timeout:_:)``); the async form waits off the cooperative pool; ``acquire(timeout:recovering:)``
/// and ``release()`` are unavailable from async code. A holder that dies leaves the
/// owner-died mark, whatever its depth (see ``Lock``).
///
/// ```swift
/// let lock = try RLock()
/// try lock.withLock {
///     try lock.withLock { tree.rebalance() }   // the holder enters again
/// }
/// ```
public final class RLock: Sendable, Codable, CustomStringConvertible {
    let placement: SharedPlacement
    var core: LockCore { LockCore(at: placement.pointer, reentrant: true) }
    static let name = "RLock"

    /// A new unlocked reentrant lock in the arena. Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` when this process has no arena
    /// or it is full.
    public convenience init() throws(SynchronizationError) {
        let placement = try SharedPlacement.allocate(byteCount: LockCore.byteCount, alignment: LockCore.alignment,
                                                     tag: SharedPlacement.Tag.rlock, Self.name)
        try self.init(initializing: placement)
    }

    init(initializing placement: SharedPlacement) throws(SynchronizationError) {
        _ = try LockCore.initialize(at: placement.pointer, reentrant: true, Self.name)
        self.placement = placement
    }

    init(attaching placement: SharedPlacement) { self.placement = placement }

    /// Acquires the lock (one level deeper if the calling thread holds it already), runs
    /// `body`, releases one level. Errors as ``Lock/withLock(timeout:_:)``, without
    /// `wouldDeadlock`.
    public func withLock<R>(timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        try core.withLock(timeout: timeout, recovering: nil, Self.name, body)
    }

    /// ``withLock(timeout:_:)``, first repairing the protected state if a holder died (see
    /// ``Lock/withLock(timeout:recovering:_:)``).
    public func withLock<R>(timeout: Duration? = nil, recovering: () throws -> Void, _ body: () throws -> R) throws -> R {
        try withoutActuallyEscaping(recovering) { recovering in
            try core.withLock(timeout: timeout, recovering: recovering, Self.name, body)
        }
    }

    /// The async form of ``withLock(timeout:_:)`` (see ``Lock``'s).
    public func withLock<R: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await core.withLockAsync(keeping: self, timeout: timeout, recovering: nil, Self.name, body)
    }

    /// The async form of ``withLock(timeout:recovering:_:)``.
    public func withLock<R: Sendable>(timeout: Duration? = nil, recovering: @escaping @Sendable () throws -> Void,
                                      _ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await core.withLockAsync(keeping: self, timeout: timeout, recovering: recovering, Self.name, body)
    }

    /// Acquires one level for the calling thread, waiting at most `timeout` (nil: as long as it
    /// takes); false when the timeout passed first. See ``Lock/acquire(timeout:recovering:)``.
    @available(*, noasync, message: "a lock belongs to a thread; use withLock from async code")
    public func acquire(timeout: Duration? = nil, recovering: (() throws -> Void)? = nil) throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, Self.name)
        return try core.acquire(until: deadline, recovering: recovering, cancellation: nil, Self.name)
    }

    /// Releases one level; the lock is free once every acquisition is released. Throws
    /// ``SynchronizationError/Code/notOwner`` when the calling thread does not hold it.
    @available(*, noasync, message: "a lock belongs to a thread; use withLock from async code")
    public func release() throws(SynchronizationError) {
        try core.release(Self.name)
    }

    /// Whether a holder died and nobody has repaired the state since.
    public var ownerDied: Bool { core.isOwnerDead }

    /// Whether the calling thread holds the lock.
    public var isHeldByCurrentThread: Bool { (try? core.isHeldByCallingThread(Self.name)) ?? false }

    /// A short description for logs.
    public var description: String { "RLock(\(placement.handle.map { "\($0)" } ?? "unplaced"))" }

    /// Encodes the handle of the shared state (never the state itself): every decoded copy is
    /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(placement.handleForEncoding(Self.name, encoder))
    }

    /// The reentrant lock a handle names. Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` for a handle that is not a live
    /// RLock of this tree's arena.
    public convenience init(from decoder: any Decoder) throws {
        let handle = try decoder.singleValueContainer().decode(ArenaHandle.self)
        self.init(attaching: try SharedPlacement.resolve(handle, byteCount: LockCore.byteCount, tag: SharedPlacement.Tag.rlock, Self.name))
    }
}
