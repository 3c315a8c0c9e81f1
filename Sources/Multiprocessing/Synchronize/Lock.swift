/// What ``Lock`` and ``RLock`` share (CPython's `SemLock`): a robust, process-shared pthread
/// mutex in the arena, held by a thread inside synchronous regions, with the owner-died mark
/// and a `Codable` handle. Use one of the two; the class is not meant to be subclassed.
// Unchecked only because the class is not final: every stored property is immutable and Sendable.
public class SharedLock: @unchecked Sendable, Codable, CustomStringConvertible {
    /// Which of the two a lock is: its name in messages, its arena tag, whether it is reentrant.
    struct Kind: Sendable {
        let name: String
        let tag: UInt64
        let reentrant: Bool
    }

    /// Overridden by each subclass.
    class var kind: Kind { Kind(name: "Lock", tag: SharedPlacement.Tag.lock, reentrant: false) }

    /// The lock's memory in the arena, and its kind (immutable: the class is
    /// `@unchecked Sendable` only because it is not final).
    let placement: SharedPlacement
    let kind: Kind
    /// The state's address (a plain struct: the hot path touches no reference; `placement`
    /// keeps the memory mapped).
    let core: LockCore

    /// A new unlocked lock of this class's kind in `arena` (create a ``Lock`` or an
    /// ``RLock``). Throws ``SynchronizationError/Code/sharedMemoryUnavailable`` when it is
    /// full. (`Lock()`, in Runtime/, uses the default runtime's arena.)
    convenience init(in arena: Arena) throws(SynchronizationError) {
        let kind = Self.kind
        try self.init(initializing: try SharedPlacement.allocate(byteCount: LockCore.byteCount, alignment: LockCore.alignment,
                                                                 tag: kind.tag, kind.name, in: arena))
    }

    /// A new lock of this kind in `placement`'s fresh memory.
    init(initializing placement: SharedPlacement) throws(SynchronizationError) {
        kind = Self.kind
        core = try LockCore.initialize(at: placement.pointer, reentrant: kind.reentrant, kind.name)
        self.placement = placement
    }

    /// The lock already initialized in `placement`.
    init(attaching placement: SharedPlacement) {
        kind = Self.kind
        core = LockCore(at: placement.pointer, reentrant: kind.reentrant)
        self.placement = placement
    }

    /// Acquires the lock (waiting at most `timeout`; nil: as long as it takes), runs `body`,
    /// and releases it, also when `body` throws. Python's `with lock:`.
    ///
    /// Throws ``SynchronizationError/Code/timedOut`` when the timeout passes first,
    /// ``SynchronizationError/Code/ownerDied`` (without running `body`, lock released) when a
    /// holder died and nobody recovered since, ``SynchronizationError/Code/wouldDeadlock`` when
    /// the calling thread holds a ``Lock`` already and gave no timeout (with one, `timedOut`);
    /// and whatever `body` throws. A negative timeout is zero (one try).
    @inlinable
    public final func withLock<R>(timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        // Generic only here, inlined into the caller; the locking itself is two plain calls
        // (an unspecialized generic path through the lock's layers cost 3x the mutex itself).
        try _acquireForBody(timeout: timeout)
        defer { _releaseAfterBody() }
        return try body()
    }

    /// The acquisition of ``withLock(timeout:_:)``: throws `timedOut`, `ownerDied`,
    /// `wouldDeadlock` as documented there.
    @usableFromInline
    final func _acquireForBody(timeout: Duration?) throws {
        let deadline = try SynchronizationError.deadline(timeout, kind.name)
        guard try core.acquire(until: deadline, recovering: nil, cancellation: nil, kind.name) else {
            throw LockCore.timedOut(timeout, kind.name)
        }
    }

    /// The release of ``withLock(timeout:_:)`` (the calling thread holds the lock).
    @usableFromInline
    final func _releaseAfterBody() {
        try? core.release(kind.name)
    }

    /// ``withLock(timeout:_:)``, first repairing the protected state if a holder died: when
    /// the lock carries the owner-died mark, `recovering` runs under the lock before `body`,
    /// and the mark is cleared once it returns (if it throws, the mark stays and its error is
    /// thrown). Without the mark, `recovering` does not run.
    public func withLock<R>(timeout: Duration? = nil, recovering: () throws -> Void, _ body: () throws -> R) throws -> R {
        try withoutActuallyEscaping(recovering) { recovering in
            try core.withLock(timeout: timeout, recovering: recovering, kind.name, body)
        }
    }

    /// The async form of ``withLock(timeout:_:)``: when the lock is busy, the wait, `body` and
    /// the release run on a dedicated thread, never on Swift's cooperative pool. Cancelling the
    /// task ends the wait (`CancellationError`; it is noticed within 10 ms, as a mutex wait
    /// cannot be woken from outside); once acquired, `body` runs to its end.
    public func withLock<R: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await core.withLockAsync(keeping: self, timeout: timeout, recovering: nil, kind.name, body)
    }

    /// The async form of ``withLock(timeout:recovering:_:)``.
    public func withLock<R: Sendable>(timeout: Duration? = nil, recovering: @escaping @Sendable () throws -> Void,
                                      _ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await core.withLockAsync(keeping: self, timeout: timeout, recovering: recovering, kind.name, body)
    }

    /// Acquires the lock for the calling thread, waiting at most `timeout` (nil: as long as it
    /// takes; zero or negative: Python's `blocking=False`, one try); returns false when the
    /// timeout passed first.
    ///
    /// The holder of a ``Lock`` asking again: with a timeout, false at once (as Python's
    /// `acquire(timeout=...)` returns `False`; only the holder could release it); without one,
    /// ``SynchronizationError/Code/wouldDeadlock`` (Python would hang forever). An ``RLock``'s
    /// holder goes one level deeper.
    /// Release it with ``release()`` on the same thread. With `recovering`, a lock whose holder
    /// died is repaired as in ``withLock(timeout:recovering:_:)``; without, it throws
    /// ``SynchronizationError/Code/ownerDied`` (not holding the lock).
    @available(*, noasync, message: "a lock belongs to a thread; use withLock from async code")
    public func acquire(timeout: Duration? = nil, recovering: (() throws -> Void)? = nil) throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, kind.name)
        return try core.acquire(until: deadline, recovering: recovering, cancellation: nil, kind.name)
    }

    /// Releases the lock. Throws ``SynchronizationError/Code/notOwner`` when the calling thread
    /// does not hold it (Python lets any process release a `Lock`; a pthread mutex does not).
    @available(*, noasync, message: "a lock belongs to a thread; use withLock from async code")
    public func release() throws(SynchronizationError) {
        try core.release(kind.name)
    }

    /// Whether a holder died and nobody has repaired the state since (every acquisition
    /// without a recovery closure throws ``SynchronizationError/Code/ownerDied`` meanwhile).
    public var ownerDied: Bool { core.isOwnerDead }

    /// Whether the calling thread holds the lock.
    public var isHeldByCurrentThread: Bool { (try? core.isHeldByCallingThread(kind.name)) ?? false }

    /// A short description for logs.
    public var description: String { "\(kind.name)(\(placement.handle.map { "\($0)" } ?? "unplaced"))" }

    /// Encodes the handle of the shared state (never the state itself): every decoded copy is
    /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(placement.handleForEncoding(kind.name, encoder))
    }

    /// The lock a handle names (one made by any process of this tree). Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` for a handle that is not a live
    /// lock of this kind in this tree's arena (an RLock's handle decoded as a Lock, say). The
    /// arena is the one of the runtime the decoder's `userInfo` names (`Runtime.userInfoKey`),
    /// else the default runtime's.
    public required convenience init(from decoder: any Decoder) throws {
        let handle = try decoder.singleValueContainer().decode(ArenaHandle.self)
        let kind = Self.kind
        self.init(attaching: try SharedPlacement.resolve(handle, byteCount: LockCore.byteCount, tag: kind.tag, kind.name, decoder: decoder))
    }
}

/// A lock shared by every process of the tree (Python's `multiprocessing.Lock`): a robust,
/// process-shared pthread mutex in the arena.
///
/// A lock belongs to the *thread* that acquired it, so it is held only inside a synchronous
/// region: ``withLock(timeout:_:)`` takes a non-async closure. From async code,
/// ``withLock(timeout:_:)-(_,@Sendable()->R)`` waits off Swift's cooperative thread pool and
/// runs the closure on the thread that holds the lock. ``acquire(timeout:recovering:)`` and
/// ``release()`` exist for Python parity and are unavailable from async code (a task can
/// resume on another thread between them).
///
/// When a process dies holding the lock, the next acquirer is not stuck (CPython's gh-88304
/// is): it gets ``SynchronizationError/Code/ownerDied``, and so does every later one until a
/// caller repairs the protected state with ``withLock(timeout:recovering:_:)``. The mark lives
/// in shared memory, so it cannot be lost by one process ignoring it.
///
/// A handle: `Codable` (send it at spawn or in any message); every copy is the same lock.
/// Its memory is freed when the last handle in every process is gone (an encoded handle counts
/// until it is decoded). A process killed while holding handles never gives their counts back:
/// that memory stays until the root process exits and the arena goes.
///
/// ```swift
/// let lock = try Lock()
/// let child = try await ChildProcess.start(work, Job(lock: lock, counter: counter))
/// try lock.withLock { counter.pointee += 1 }
/// // After a holder was killed with the count half-updated:
/// try lock.withLock(recovering: { counter.pointee = recount() }) { counter.pointee += 1 }
/// ```
// Unchecked: adds no state to `SharedLock`, whose stored properties are immutable and Sendable.
public final class Lock: SharedLock, @unchecked Sendable {
    override class var kind: Kind { Kind(name: "Lock", tag: SharedPlacement.Tag.lock, reentrant: false) }
}
