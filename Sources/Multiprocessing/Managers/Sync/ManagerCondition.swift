import MessagePack

/// A condition variable hosted by a manager (Python's `Manager().Condition()`), over a
/// manager ``ManagerRLock`` of its own or a ``ManagerLock``/``ManagerRLock`` it was made over.
/// Make one with ``Manager/condition(name:)`` or ``Manager/condition(lock:name:)-(ManagerLock,_)``.
///
/// Inside ``withLock(timeout:_:)``, ``wait(timeout:)`` releases the lock (every level the caller
/// holds), waits until a ``notify(_:)``/``notifyAll()`` picks it or the timeout passes, and takes
/// the lock back before it returns (true: notified; false: timed out). ``wait(for:timeout:)``
/// loops on a predicate, evaluated in this process with the lock held (Python's `wait_for`).
/// Holders are as ``ManagerLock``'s: a `withLock` scope of a task, or the process outside any.
///
/// A wait whose task is cancelled ends with ``ManagerError/Code/cancelled`` *without* the lock
/// (the manager gave it up when the wait began; the enclosing `withLock`'s release then
/// finds it not held and is ignored). A holder that dies leaves the owner-died mark (see
/// ``ManagerLock``); a wait that takes the lock back after that throws
/// ``ManagerError/Code/ownerDied`` holding it.
///
/// ```swift
/// let ready = try await manager.condition()
/// // consumer
/// try await ready.withLock {
///     guard try await ready.wait(for: { try await jobs.count() > 0 }, timeout: .seconds(5)) else { return }
///     handle(try await jobs.pop())
/// }
/// // producer, in another process
/// try await ready.withLock { try await jobs.append(job); try await ready.notify() }
/// ```
public struct ManagerCondition: ManagerLockProxy, CustomStringConvertible {
    /// `condition`.
    public static var typeID: String { "condition" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference
    private var calls: ManagerLockCalls { ManagerLockCalls(reference: reference, what: "ManagerCondition") }

    /// A proxy of the condition `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    // The lock's methods (acquire, release, withLock, isLocked, ownerDied) are
    // ManagerLockProxy's: they act on the condition's lock.

    // MARK: waiting (inside withLock)

    /// Releases the lock, waits until a notify picks this caller or `timeout` passes (nil: as
    /// long as it takes), takes the lock back; true when notified, false at the timeout
    /// (Python's `wait`). Throws ``ManagerError/Code/notOwner`` when the caller does not hold the
    /// lock, ``ManagerError/Code/ownerDied`` (holding it again) when a holder died meanwhile,
    /// ``ManagerError/Code/cancelled`` (not holding it) when the task is cancelled.
    public func wait(timeout: Duration? = nil) async throws(ManagerError) -> Bool {
        try await invoke("wait", [ManagerArguments.uint(ManagerLockOwner.current), ManagerArguments.timeout(timeout)], as: Bool.self)
    }

    /// Waits until `predicate` (evaluated here, holding the lock) is true, at most `timeout` in
    /// all; returns the predicate's last answer (Python's `wait_for`). Errors as ``wait(timeout:)``
    /// and whatever `predicate` throws.
    nonisolated(nonsending) public func wait(for predicate: () async throws -> Bool, timeout: Duration? = nil) async throws -> Bool {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        while try await !predicate() {
            var left: Duration?
            if let deadline {
                left = deadline - ContinuousClock.now
                if left! <= .zero { return false }
            }
            _ = try await wait(timeout: left)
        }
        return true
    }

    /// Wakes the `count` callers that have waited longest (Python's `notify(n)`); each takes the
    /// lock once the notifier releases it. Throws ``ManagerError/Code/notOwner`` when the caller
    /// does not hold the lock, ``ManagerError/Code/invalidArgument`` for a negative count.
    public func notify(_ count: Int = 1) async throws(ManagerError) {
        try await invoke("notify", [ManagerArguments.uint(ManagerLockOwner.current), ManagerArguments.int(count)])
    }

    /// Wakes every waiting caller (Python's `notify_all`). Throws ``ManagerError/Code/notOwner``
    /// when the caller does not hold the lock.
    public func notifyAll() async throws(ManagerError) {
        try await invoke("notifyAll", [ManagerArguments.uint(ManagerLockOwner.current)])
    }

    /// Whether some caller holds the condition's lock now; stale as soon as read.
    public var isLocked: Bool { get async throws(ManagerError) { try await calls.isLocked } }

    /// Whether a holder of the condition's lock died and nobody has repaired the state since.
    public var ownerDied: Bool { get async throws(ManagerError) { try await calls.ownerDied } }

    /// A short description for logs.
    public var description: String { "ManagerCondition(\(reference.object))" }
}
