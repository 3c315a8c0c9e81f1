import MessagePack

/// A barrier hosted by a manager (Python's `Manager().Barrier(parties, timeout=)`, without an
/// action): each ``wait(timeout:)`` waits until `parties` callers have arrived, then all are
/// released together and the next round begins. Make one with
/// ``Manager/barrier(parties:timeout:name:)``.
///
/// Broken (``ManagerError/Code/brokenBarrier``, Python's `BrokenBarrierError`) when a waiting
/// party times out, is cancelled or its process ends, or on ``abort()``: every waiter of that
/// round and every later wait throws, until ``reset()``.
///
/// ```swift
/// let step = try await manager.barrier(parties: 3)
/// for shard in 0..<2 { _ = try await ChildProcess.start(compute, Shard(shard, step)) }
/// let index = try await step.wait()          // the third party: released with both children
/// ```
public struct ManagerBarrier: ManagerProxy, CustomStringConvertible {
    /// `barrier`.
    public static var typeID: String { "barrier" }
    /// The reference the proxy calls through.
    public let reference: ManagedReference

    /// A proxy of the barrier `reference` names.
    public init(reference: ManagedReference) { self.reference = reference }

    /// Arrives and waits until every party has, at most `timeout` (nil: the barrier's default);
    /// this party's arrival index, 0 for the first to `parties - 1` for the last. Throws
    /// ``ManagerError/Code/brokenBarrier`` when the barrier is or becomes broken (a timeout or a
    /// cancellation breaks it, for every party).
    public func wait(timeout: Duration? = nil) async throws(ManagerError) -> Int {
        try await invoke("wait", [ManagerArguments.timeout(timeout)], as: Int.self)
    }

    /// Breaks the barrier (Python's `abort`): every waiter and later wait throws
    /// ``ManagerError/Code/brokenBarrier`` until ``reset()``.
    public func abort() async throws(ManagerError) { try await invoke("abort") }

    /// Back to the empty state, not broken (Python's `reset`): parties waiting now get
    /// ``ManagerError/Code/brokenBarrier``.
    public func reset() async throws(ManagerError) { try await invoke("reset") }

    /// How many parties each round needs.
    public var parties: Int { get async throws(ManagerError) { try await invoke("parties", as: Int.self) } }

    /// How many parties wait now (Python's `n_waiting`).
    public var waitingCount: Int { get async throws(ManagerError) { try await invoke("waitingCount", as: Int.self) } }

    /// Whether the barrier is broken (Python's `broken`).
    public var isBroken: Bool { get async throws(ManagerError) { try await invoke("isBroken", as: Bool.self) } }

    /// A short description for logs.
    public var description: String { "ManagerBarrier(\(reference.object))" }
}
