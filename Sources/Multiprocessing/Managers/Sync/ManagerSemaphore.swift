import MessagePack

/// A semaphore hosted by a manager (Python's `Manager().Semaphore(n)`): a count of units;
/// ``acquire(timeout:)`` takes one, waiting while there is none, ``release(_:)`` gives units
/// back. Units are not owned: any caller of any process may release, and a process that ends
/// keeps what it took (as the shared-memory ``Multiprocessing/Semaphore``). Make one with
/// ``Manager/semaphore(value:name:)``.
///
/// ```swift
/// let slots = try await manager.semaphore(value: 2)      // at most two downloads at once
/// if try await slots.acquire(timeout: .seconds(5)) {
///     try? await download()
///     try await slots.release()
/// }
/// ```
public struct ManagerSemaphore: ManagerSemaphoreProxy, CustomStringConvertible {
    /// `semaphore`.
    public static var typeID: String { "semaphore" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the semaphore `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// A short description for logs.
    public var description: String { "ManagerSemaphore(\(reference.object))" }
}

/// What ``ManagerSemaphore`` and ``ManagerBoundedSemaphore`` share.
public protocol ManagerSemaphoreProxy: ManagerProxy {}

extension ManagerSemaphoreProxy {
    /// Takes one unit, waiting at most `timeout` (nil: as long as it takes; zero or less: one
    /// try); false when the timeout passed first. Cancelling the task cancels the wait.
    public func acquire(timeout: Duration? = nil) async throws(ManagerError) -> Bool {
        try await invoke("acquire", [ManagerArguments.timeout(timeout)], as: Bool.self)
    }

    /// Gives back `count` units (Python's `release(n)`), waking waiters;
    /// ``ManagerError/Code/invalidArgument`` for a count below 1, and for a bounded semaphore
    /// (nothing released) when the value would pass the initial one.
    public func release(_ count: Int = 1) async throws(ManagerError) {
        try await invoke("release", [ManagerArguments.int(count)])
    }

    /// The units available now (Python's `get_value()`); stale as soon as read.
    public var value: Int { get async throws(ManagerError) { try await invoke("value", as: Int.self) } }
}

/// A ``ManagerSemaphore`` that refuses to go above its initial value (Python's
/// `Manager().BoundedSemaphore(n)`): a release without a matching acquire throws
/// ``ManagerError/Code/invalidArgument`` (nothing released). Make one with
/// ``Manager/boundedSemaphore(value:name:)``.
///
/// ```swift
/// let connections = try await manager.boundedSemaphore(value: 4)
/// guard try await connections.acquire(timeout: .seconds(1)) else { throw Busy() }
/// try? await query()
/// try await connections.release()
/// try await connections.release()       // ManagerError.invalidArgument: above the initial 4
/// ```
public struct ManagerBoundedSemaphore: ManagerSemaphoreProxy, CustomStringConvertible {
    /// `boundedSemaphore`.
    public static var typeID: String { "boundedSemaphore" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the semaphore `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// A short description for logs.
    public var description: String { "ManagerBoundedSemaphore(\(reference.object))" }
}
