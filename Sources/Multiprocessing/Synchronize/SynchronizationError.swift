/// An error of a synchronization primitive (``Lock``, ``RLock``, ``Multiprocessing/Semaphore``,
/// ``BoundedSemaphore``, ``Condition``, ``Event``, ``Barrier``): what went wrong (``code``)
/// and where (the primitive and the operation) in ``message``. A struct with an extensible
/// ``Code`` (STYLE.md). A wait that runs out of time is not an error where Python returns
/// `False` (`acquire`, `wait`): those return `false`.
///
/// ```swift
/// do { try lock.withLock { counter += 1 } }
/// catch let error as SynchronizationError where error.code == .ownerDied {
///     try lock.withLock(recovering: { counter = recount() }) { counter += 1 }
/// }
/// ```
public struct SynchronizationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. Extensible: compare with `==`, do not `switch` exhaustively.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as printed.
        public let name: String
        init(_ name: String) { self.name = name }
        /// A short description for logs.
        public var description: String { name }

        /// A process (or thread) died holding the ``Lock``/``RLock``, and nobody has recovered
        /// the state it protected since: the lock is *not* held when this is thrown. Take it
        /// with `withLock(recovering:_:)` (or `acquire(timeout:recovering:)`), whose repair
        /// closure runs first, under the lock, and clears the mark. Until then every
        /// acquisition throws this, in every process. From a ``Condition`` wait, the lock *is*
        /// held again when this is thrown (the enclosing `withLock` releases it).
        public static let ownerDied = Code("ownerDied")
        /// A release (or a ``Condition`` wait or notify) by a thread that does not hold the
        /// lock: not held at all, held by another thread, or by another process.
        public static let notOwner = Code("notOwner")
        /// A ``Lock`` acquired again by the thread that holds it (it would wait forever; an
        /// ``RLock`` is the reentrant one).
        public static let wouldDeadlock = Code("wouldDeadlock")
        /// A ``BoundedSemaphore`` released more times than it was acquired (Python's
        /// `ValueError`).
        public static let overReleased = Code("overReleased")
        /// The ``Barrier`` is broken (Python's `BrokenBarrierError`): a party timed out, was
        /// cancelled, died while waiting, its action threw, or the barrier was reset or
        /// aborted while this party waited. It stays broken until ``Barrier/reset()``.
        public static let brokenBarrier = Code("brokenBarrier")
        /// A `withLock(timeout:)` ran past its timeout (the forms that answer `false` do not throw).
        public static let timedOut = Code("timedOut")
        /// A ``Condition`` wait while 64 threads (in all processes)
        /// wait on it already.
        public static let tooManyWaiters = Code("tooManyWaiters")
        /// A negative count, a barrier of no parties, a barrier action name that is empty, too
        /// long or registered twice.
        public static let invalidArgument = Code("invalidArgument")
        /// A ``Barrier``'s action is not registered in this process (see ``BarrierAction``): the
        /// barrier is broken when its last party finds that out.
        public static let unregisteredAction = Code("unregisteredAction")
        /// The primitive's shared memory could not be had (no arena, a stale handle);
        /// ``SynchronizationError/underlyingError`` says why.
        public static let sharedMemoryUnavailable = Code("sharedMemoryUnavailable")
        /// A system call failed; ``SynchronizationError/underlyingError`` says which and why.
        public static let systemCallFailed = Code("systemCallFailed")
    }

    /// What went wrong.
    public var code: Code
    /// What and where, for a human ("RLock.release: the calling thread does not hold the lock").
    public var message: String
    /// The error behind this one, if any: a ``SystemError`` or a ``SharedMemoryError``.
    public var underlyingError: UnderlyingError?

    /// The error behind a ``SynchronizationError``.
    public enum UnderlyingError: Hashable, Sendable, CustomStringConvertible {
        /// A system call failed (a futex, a pthread mutex call, starting a wait thread).
        case system(SystemError)
        /// The arena refused (no arena in this process, full, a stale or foreign handle).
        case sharedMemory(SharedMemoryError)

        /// A short description for logs.
        public var description: String {
            switch self {
            case .system(let error): error.description
            case .sharedMemory(let error): error.description
            }
        }
    }

    /// An error of `code` described by `message`.
    public init(_ code: Code, _ message: String, underlyingError: UnderlyingError? = nil) {
        self.code = code
        self.message = message
        self.underlyingError = underlyingError
    }

    /// A short description for logs.
    public var description: String {
        if let underlyingError { return "\(code): \(message) (\(underlyingError))" }
        return "\(code): \(message)"
    }
}

extension SynchronizationError {
    static func system(_ errno: Errno, _ operation: String, _ what: String) -> SynchronizationError {
        SynchronizationError(.systemCallFailed, "\(what) failed",
                             underlyingError: .system(SystemError(errno, operation: operation)))
    }

    static func sharedMemory(_ error: SharedMemoryError, _ what: String) -> SynchronizationError {
        SynchronizationError(.sharedMemoryUnavailable, "\(what): \(error.message)", underlyingError: .sharedMemory(error))
    }

    /// The deadline of a wait of at most `timeout`: nil waits for as long as it takes; a
    /// negative timeout is zero (try once), as Python's `acquire`, `wait` and `Barrier.wait`
    /// treat it. Never throws (kept throwing for the callers' shape).
    static func deadline(_ timeout: Duration?, _ what: String) throws(SynchronizationError) -> MonotonicInstant? {
        guard let timeout else { return nil }
        return MonotonicInstant.after(max(timeout, .zero))
    }
}
