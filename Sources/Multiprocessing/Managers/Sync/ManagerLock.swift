import MessagePack
import Synchronization

/// Who a manager lock's holder is in a client process: a token per `withLock` scope.
///
/// The manager sees a holder as (client process, token). A task inside `withLock` (of any
/// manager lock, rlock or condition) carries its scope's token in a task local, so nested
/// `withLock`s, `wait`s and `notify`s in that task are the same holder, and two tasks are two
/// holders (as two threads are in Python). Outside any `withLock`, the token is 0: "the
/// process", shared by every task of it (`acquire()` in one task, `release()` in another works;
/// an rlock acquired so goes one level deeper for every task).
enum ManagerLockOwner {
    /// The token of the `withLock` scope the task is in.
    @TaskLocal static var scope: UInt64?
    private static let tokens = Atomic<UInt64>(1)

    /// The calling task's token: its scope's, or 0 (the process) outside any.
    static var current: UInt64 { scope ?? 0 }

    /// Runs `body` in a `withLock` scope: the task's own when it is in one (nesting), else a new
    /// token's.
    nonisolated(nonsending) static func withScope<R>(_ body: (UInt64) async throws -> R) async throws -> R {
        if let scope { return try await body(scope) }
        let token = tokens.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await $scope.withValue(token) { try await body(token) }
    }
}

/// The lock methods a ``ManagerLock``, a ``ManagerRLock`` and a ``ManagerCondition`` share.
struct ManagerLockCalls: Sendable {
    let reference: ManagedReference
    /// "ManagerLock.acquire" and the like start with it.
    let what: String

    /// Asks for the lock for `token`; the manager's answer.
    func acquire(_ token: UInt64, timeout: Duration?, recovering: Bool) async throws(ManagerError) -> ManagedMutex.Status {
        let answer = try await reference.invoke("acquire", [ManagerArguments.uint(token), ManagerArguments.timeout(timeout),
                                                            ManagerArguments.bool(recovering)], as: Int64.self)
        guard let status = ManagedMutex.Status(rawValue: answer) else {
            throw ManagerError(.protocolViolation, "\(what).acquire: the manager answered \(answer), not 0, 1 or 2")
        }
        return status
    }

    /// `acquire` without a recovery: true when held, false when the timeout passed.
    func acquire(timeout: Duration?) async throws(ManagerError) -> Bool {
        try await acquire(ManagerLockOwner.current, timeout: timeout, recovering: false) != .timedOut
    }

    /// `acquire` with a recovery: when the previous holder died, `recovering` runs holding
    /// the lock and the mark is cleared once it returns; when it throws, the lock is released,
    /// the mark stays, and its error is thrown.
    nonisolated(nonsending) func acquire(_ token: UInt64, timeout: Duration?,
                                         recovering: () async throws -> Void) async throws -> Bool {
        switch try await acquire(token, timeout: timeout, recovering: true) {
        case .timedOut:
            return false
        case .ownerDied:
            do {
                try await recovering()
            } catch {
                try? await release(token)
                throw error
            }
            try await reference.invoke("recovered", [ManagerArguments.uint(token)])
            return true
        case .acquired:
            return true
        }
    }

    func release(_ token: UInt64) async throws(ManagerError) {
        try await reference.invoke("release", [ManagerArguments.uint(token)])
    }

    /// Acquires (a timeout is `timedOut`), runs `body`, releases, also when `body` throws.
    /// `recovering` runs only when `recovers` (a closure parameter that is optional would escape).
    nonisolated(nonsending) func withLock<R>(timeout: Duration?, recovers: Bool, recovering: () async throws -> Void,
                                             _ body: () async throws -> R) async throws -> R {
        try await ManagerLockOwner.withScope { token in
            let acquired: Bool
            if recovers {
                acquired = try await acquire(token, timeout: timeout, recovering: recovering)
            } else {
                acquired = try await acquire(token, timeout: timeout, recovering: false) != .timedOut
            }
            guard acquired else {
                throw ManagerError(.timedOut, "\(what).withLock: the lock was not acquired within \(timeout.map { "\($0)" } ?? "the timeout")")
            }
            let result: R
            do {
                result = try await body()
            } catch {
                try? await release(token)
                throw error
            }
            try await release(token)
            return result
        }
    }

    var isLocked: Bool { get async throws(ManagerError) { try await reference.invoke("isLocked", as: Bool.self) } }
    var ownerDied: Bool { get async throws(ManagerError) { try await reference.invoke("ownerDied", as: Bool.self) } }
}

/// A lock hosted by a manager (Python's `Manager().Lock()`): for processes that share no
/// memory (a remote client), or to be handed around as a proxy. Make one with
/// ``Manager/lock(name:)``.
///
/// The holder is a caller in a client process: a task inside ``withLock(timeout:_:)`` (each
/// outermost `withLock` is a holder of its own, nested ones in its task are the same), or,
/// outside any `withLock`, the process (``acquire(timeout:)`` in one task and ``release()`` in
/// another is fine). Only the holder releases (``ManagerError/Code/notOwner`` otherwise). A
/// holder asking again in the same `withLock` scope would wait forever: with a timeout it gets
/// `false`, without, ``ManagerError/Code/invalidArgument``.
///
/// When a client process ends holding the lock, the manager releases it and marks it, as the
/// shared-memory ``Lock`` does: the next acquisition is told (``ManagerError/Code/ownerDied``,
/// lock not held), and so is every later one, until one brings a recovery closure
/// (``withLock(timeout:recovering:_:)``), which runs first, holding the lock, and clears the mark.
///
/// Cancelling a task that waits in ``acquire(timeout:)`` cancels the wait in the manager.
///
/// ```swift
/// let lock = try await manager.lock()
/// try await lock.withLock { try await total.set(try await total.get() + 1) }
/// // After a holder was killed with the state half-updated:
/// try await lock.withLock(recovering: { try await total.set(try await recount()) }) { ... }
/// ```
public struct ManagerLock: ManagerLockProxy, CustomStringConvertible {
    /// `lock`.
    public static var typeID: String { "lock" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the lock `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// A short description for logs.
    public var description: String { "ManagerLock(\(reference.object))" }
}

/// What ``ManagerLock`` and ``ManagerRLock`` share: acquire, release and `withLock`, with their
/// holders, owner death and cancellation as ``ManagerLock`` describes.
public protocol ManagerLockProxy: ManagerProxy {}

extension ManagerLockProxy {
    private var calls: ManagerLockCalls { ManagerLockCalls(reference: reference, what: String(describing: Self.self)) }

    /// Acquires the lock (one level of an rlock), waiting at most `timeout` (nil: as long as it
    /// takes; zero or less: one try); false when the timeout passed first. Throws
    /// ``ManagerError/Code/ownerDied`` (not holding it) when a holder died and nobody recovered since.
    public func acquire(timeout: Duration? = nil) async throws(ManagerError) -> Bool {
        try await calls.acquire(timeout: timeout)
    }

    /// ``acquire(timeout:)``, first repairing the protected state if a holder died: `recovering`
    /// runs holding the lock, and the mark is cleared once it returns (if it throws, the lock is
    /// released, the mark stays, and its error is thrown).
    nonisolated(nonsending) public func acquire(timeout: Duration? = nil, recovering: () async throws -> Void) async throws -> Bool {
        try await calls.acquire(ManagerLockOwner.current, timeout: timeout, recovering: recovering)
    }

    /// Releases the lock (one level of an rlock). Throws ``ManagerError/Code/notOwner`` when the
    /// caller does not hold it.
    public func release() async throws(ManagerError) { try await calls.release(ManagerLockOwner.current) }

    /// Acquires the lock (waiting at most `timeout`), runs `body`, releases it, also when `body`
    /// throws: Python's `with lock:`. Throws ``ManagerError/Code/timedOut`` when the timeout
    /// passed first, ``ManagerError/Code/ownerDied`` (body not run) when a holder died and
    /// nobody recovered since, and whatever `body` throws.
    nonisolated(nonsending) public func withLock<R>(timeout: Duration? = nil, _ body: () async throws -> R) async throws -> R {
        try await calls.withLock(timeout: timeout, recovers: false, recovering: {}, body)
    }

    /// ``withLock(timeout:_:)``, first repairing the protected state if a holder died (see
    /// ``acquire(timeout:recovering:)``).
    nonisolated(nonsending) public func withLock<R>(timeout: Duration? = nil, recovering: () async throws -> Void,
                                                    _ body: () async throws -> R) async throws -> R {
        try await calls.withLock(timeout: timeout, recovers: true, recovering: recovering, body)
    }

    /// Whether some caller holds the lock now (Python's `locked()`); stale as soon as read.
    public var isLocked: Bool { get async throws(ManagerError) { try await calls.isLocked } }

    /// Whether a holder died and nobody has repaired the state since.
    public var ownerDied: Bool { get async throws(ManagerError) { try await calls.ownerDied } }
}

/// A reentrant lock hosted by a manager (Python's `Manager().RLock()`): its holder may acquire
/// it again and releases it as many times. Holders, owner death and cancellation as
/// ``ManagerLock``'s. Make one with ``Manager/rlock(name:)``.
///
/// ```swift
/// let lock = try await manager.rlock()
/// try await lock.withLock {
///     try await lock.withLock { try await tree.rebalance() }   // the holder enters again
/// }
/// ```
public struct ManagerRLock: ManagerLockProxy, CustomStringConvertible {
    /// `rlock`.
    public static var typeID: String { "rlock" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the lock `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// A short description for logs.
    public var description: String { "ManagerRLock(\(reference.object))" }
}
