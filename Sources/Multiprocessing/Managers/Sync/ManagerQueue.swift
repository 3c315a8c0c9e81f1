import MessagePack

/// A queue hosted by a manager (Python's `Manager().Queue(maxsize)` and `JoinableQueue`):
/// `Codable` items, first in first out, for processes that share no supervisor (remote
/// clients) or to be handed around as a proxy. Every put counts as a task until ``taskDone()``
/// marks it done; ``join(timeout:)`` waits for all of them. Make one with
/// ``Manager/queue(_:maxsize:name:)``. (Between the processes of one tree, ``Queue`` is faster:
/// its items never wait in a manager's loop.)
///
/// ```swift
/// let jobs = try await manager.queue(Int.self, maxsize: 10)
/// try await jobs.put(7)                                   // waits while 10 wait
/// let job = try await jobs.get(timeout: .seconds(1))      // ManagerError.empty if none came
/// try await jobs.taskDone()
/// ```
public struct ManagerQueue<T: Codable & Sendable>: ManagerProxy, CustomStringConvertible {
    /// `queue`.
    public static var typeID: String { "queue" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the queue `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// Puts `item` at the end, waiting while the queue is full at most `timeout` (nil: as long
    /// as it takes); ``ManagerError/Code/full`` when the timeout passed first (nothing put).
    /// Cancelling the task cancels the wait (nothing put).
    public func put(_ item: T, timeout: Duration? = nil) async throws(ManagerError) {
        try await invoke("put", [encode(item, "the item"), ManagerArguments.timeout(timeout)])
    }

    /// Puts `item` if there is room now; ``ManagerError/Code/full`` otherwise (Python's `put_nowait`).
    public func putNowait(_ item: T) async throws(ManagerError) { try await put(item, timeout: .zero) }

    /// Takes the oldest item, waiting while there is none at most `timeout` (nil: as long as it
    /// takes); ``ManagerError/Code/empty`` when the timeout passed first.
    public func get(timeout: Duration? = nil) async throws(ManagerError) -> T {
        try await invoke("get", [ManagerArguments.timeout(timeout)], as: T.self)
    }

    /// Takes the oldest item if there is one now; ``ManagerError/Code/empty`` otherwise
    /// (Python's `get_nowait`).
    public func getNowait() async throws(ManagerError) -> T { try await get(timeout: .zero) }

    /// Items in the queue now (Python's `qsize()`); stale as soon as read.
    public var count: Int { get async throws(ManagerError) { try await invoke("qsize", as: Int.self) } }

    /// Whether the queue holds no item now (Python's `empty()`).
    public var isEmpty: Bool { get async throws(ManagerError) { try await invoke("empty", as: Bool.self) } }

    /// Whether a bounded queue holds `maxsize` items now (Python's `full()`).
    public var isFull: Bool { get async throws(ManagerError) { try await invoke("full", as: Bool.self) } }

    /// Marks one item taken as done (Python's `task_done()`); ``ManagerError/Code/invalidArgument``
    /// when called more times than items were put.
    public func taskDone() async throws(ManagerError) { try await invoke("taskDone") }

    /// Waits until every item put was marked done, at most `timeout` (nil: as long as it takes);
    /// ``ManagerError/Code/timedOut`` when the timeout passed first.
    public func join(timeout: Duration? = nil) async throws(ManagerError) {
        try await invoke("join", [ManagerArguments.timeout(timeout)])
    }

    /// Items put and not yet marked done.
    public var unfinishedCount: Int { get async throws(ManagerError) { try await invoke("unfinished", as: Int.self) } }

    /// A short description for logs.
    public var description: String { "ManagerQueue<\(T.self)>(\(reference.object))" }
}
