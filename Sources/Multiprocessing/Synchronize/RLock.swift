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
// Unchecked: adds no state to `SharedLock`, whose stored properties are immutable and Sendable.
public final class RLock: SharedLock, @unchecked Sendable {
    override class var kind: Kind { Kind(name: "RLock", tag: SharedPlacement.Tag.rlock, reentrant: true) }
}
