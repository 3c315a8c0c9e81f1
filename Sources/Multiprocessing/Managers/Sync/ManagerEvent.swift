import MessagePack

/// An event hosted by a manager (Python's `Manager().Event()`): a flag that ``wait(timeout:)``
/// waits for until some caller of any process calls ``set()``. Make one with
/// ``Manager/event(name:)``.
///
/// ```swift
/// let ready = try await manager.event()
/// let child = try await ChildProcess.start(warmUp, ready)       // the child calls ready.set()
/// guard try await ready.wait(timeout: .seconds(30)) else { throw StartTimedOut() }
/// ```
public struct ManagerEvent: ManagerProxy, CustomStringConvertible {
    /// `event`.
    public static var typeID: String { "event" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the event `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// Raises the flag and answers every waiter.
    public func set() async throws(ManagerError) { try await invoke("set") }

    /// Lowers the flag: later waits wait for the next ``set()``.
    public func clear() async throws(ManagerError) { try await invoke("clear") }

    /// Whether the flag is up (Python's `is_set()`).
    public var isSet: Bool { get async throws(ManagerError) { try await invoke("isSet", as: Bool.self) } }

    /// Waits until the flag is up, at most `timeout` (nil: as long as it takes); whether it is
    /// up (false: the timeout passed first). Cancelling the task cancels the wait.
    public func wait(timeout: Duration? = nil) async throws(ManagerError) -> Bool {
        try await invoke("wait", [ManagerArguments.timeout(timeout)], as: Bool.self)
    }

    /// A short description for logs.
    public var description: String { "ManagerEvent(\(reference.object))" }
}
