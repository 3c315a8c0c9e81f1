/// A meeting point for a fixed number of parties in any processes of the tree (Python's
/// `multiprocessing.Barrier`): each ``wait(timeout:)`` blocks until `parties` of them have
/// arrived, then all are released together and the barrier is ready for the next round.
///
/// The action, if any, runs exactly once per round, in whichever party arrives last, before
/// anyone is released: a ``BarrierAction``, registered by name with `bootstrap` in every process
/// (the barrier stores the name; the last party runs its own process's action of that name,
/// or breaks the barrier with ``SynchronizationError/Code/unregisteredAction``). An action
/// that throws breaks the barrier; its error goes to the party that ran it.
///
/// Broken (``SynchronizationError/Code/brokenBarrier``, Python's `BrokenBarrierError`) when a
/// waiting party times out, is cancelled, or dies (found within 100 ms: the waiters watch each
/// other's pids), when the action throws or its process dies in it, or on ``abort()``. Every
/// waiter of that round and every later ``wait(timeout:)`` then throws, until ``reset()``.
///
/// ```swift
/// let checkpoint = BarrierAction("checkpoint") { try Journal.flush() }   // also in bootstrap(functions:)
/// let barrier = try Barrier(parties: 3, action: checkpoint, timeout: .seconds(30))
/// for shard in 0..<2 { _ = try await ChildProcess.start(compute, Step(shard: shard, barrier: barrier)) }
/// let index = try await barrier.wait()     // the third party: released with both children
/// ```
public final class Barrier: Sendable, Codable, CustomStringConvertible {
    let placement: SharedPlacement
    var core: BarrierCore { BarrierCore(at: placement.pointer) }
    static let name = "Barrier"

    /// A barrier for `parties` parties (at least 1). `action` runs in the last party to arrive
    /// each round (registered in every process, see ``BarrierAction``); `timeout` is the
    /// default for waits that give none (nil: wait for as long as it takes). Throws
    /// ``SynchronizationError/Code/unregisteredAction`` when this process has not registered
    /// `action` (every other process is expected to register the same list),
    /// ``SynchronizationError/Code/invalidArgument`` for fewer than 1 party
    /// or more than 65,536 (a negative timeout is zero, as for ``wait(timeout:)-(Duration?)``),
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` when `arena` is full.
    /// (`Barrier(parties:action:timeout:)`, in Runtime/, uses the default runtime's arena.)
    convenience init(parties: Int, action: BarrierAction? = nil, timeout: Duration? = nil,
                     in arena: Arena) throws(SynchronizationError) {
        try Self.validate(parties: parties, timeout: timeout)
        if let action {
            try BarrierCore.checkActionName(action.name)
            guard BarrierActionRegistry.lookup(action.name) != nil else {
                throw BarrierActionRegistry.unregistered(action.name, Self.name)
            }
        }
        let placement = try SharedPlacement.allocate(byteCount: BarrierCore.byteCount(parties: parties), alignment: BarrierCore.alignment,
                                                     tag: SharedPlacement.Tag.barrier, Self.name, in: arena)
        try self.init(initializing: placement, parties: parties, actionName: action?.name, timeout: timeout)
    }

    static func validate(parties: Int, timeout: Duration?) throws(SynchronizationError) {
        guard (1...65_536).contains(parties) else {
            throw SynchronizationError(.invalidArgument, "\(name): \(parties) parties is not in 1...65536")
        }
    }

    init(initializing placement: SharedPlacement, parties: Int, actionName: String?,
         timeout: Duration?) throws(SynchronizationError) {
        _ = try BarrierCore.initialize(at: placement.pointer, parties: parties, timeout: timeout, actionName: actionName)
        self.placement = placement
    }

    init(attaching placement: SharedPlacement) {
        self.placement = placement
    }

    /// The name of the ``BarrierAction`` the last party of each round runs, nil for none.
    public var actionName: String? { core.actionName }

    /// How many parties each round needs.
    public var parties: Int { core.parties }
    /// How many parties wait now (Python's `n_waiting`).
    public var waitingCount: Int { core.waitingCount }
    /// Whether the barrier is broken (Python's `broken`).
    public var isBroken: Bool { core.isBroken }
    /// The timeout of a wait that gives none.
    public var defaultTimeout: Duration? { core.defaultTimeout }

    /// Arrives and waits until every party has, at most `timeout` (nil: the barrier's default);
    /// returns this party's arrival index, 0 for the first to arrive up to `parties - 1` for
    /// the last (which ran the action). The blocking form, for synchronous code.
    ///
    /// Throws ``SynchronizationError/Code/brokenBarrier`` when the barrier is or becomes broken
    /// (a timeout breaks it, here and for the others),
    /// ``SynchronizationError/Code/unregisteredAction`` in a last party whose process has no
    /// action of the barrier's action name (breaking it), and the action's error in the party
    /// that ran it. A negative timeout is zero (Python's): the wait looks once.
    public func wait(timeout: Duration? = nil) throws -> Int {
        let deadline = try SynchronizationError.deadline(timeout ?? core.defaultTimeout, "\(Self.name).wait")
        return try core.wait(until: deadline, cancellation: nil, "\(Self.name).wait")
    }

    /// The async form of ``wait(timeout:)-(Duration?)``: waits on a dedicated thread, never on
    /// Swift's cooperative pool. Task cancellation ends the wait with `CancellationError` and
    /// breaks the barrier (a party that leaves cannot be waited for), as a timeout does.
    public func wait(timeout: Duration? = nil) async throws -> Int {
        let deadline = try SynchronizationError.deadline(timeout ?? core.defaultTimeout, "\(Self.name).wait")
        try Task.checkCancellation()
        // Arrive on the task (the last party runs the action here and needs no thread).
        let arrival: BarrierCore.Arrival
        switch try core.arrive("\(Self.name).wait") {
        case .released(let index): return index
        case .waiting(let waiting): arrival = waiting
        }
        // A party that arrived and cannot wait would be waited for: it breaks the barrier instead.
        return try await BlockingWait.run("\(Self.name).wait", ifNoThread: { [self] in try? abort() }) { [self] cancellation in
            cancellation.onCancel { [self] in core.generation.wake() }
            return try core.awaitRelease(arrival, until: deadline, cancellation: cancellation, "\(Self.name).wait")
        }
    }

    /// Back to the empty state, not broken (Python's `reset`): parties waiting now get
    /// ``SynchronizationError/Code/brokenBarrier``.
    public func reset() throws(SynchronizationError) { try core.reset("\(Self.name).reset") }

    /// Breaks the barrier (Python's `abort`): every waiter and later wait throws
    /// ``SynchronizationError/Code/brokenBarrier`` until ``reset()``.
    public func abort() throws(SynchronizationError) { try core.abort("\(Self.name).abort") }

    /// A short description for logs.
    public var description: String { "Barrier(parties: \(parties), waiting: \(waitingCount)\(isBroken ? ", broken" : ""))" }

    /// Encodes the handle of the shared state (never the state itself): every decoded copy is
    /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(placement.handleForEncoding(Self.name, encoder))
    }

    /// The barrier a handle names, with its action's name. Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` for a handle that is not a live
    /// Barrier of this tree's arena.
    public convenience init(from decoder: any Decoder) throws {
        let handle = try decoder.singleValueContainer().decode(ArenaHandle.self)
        let byteCount = Int(clamping: handle.byteCount)
        let placement = try SharedPlacement.resolve(handle, byteCount: byteCount, tag: SharedPlacement.Tag.barrier, Self.name,
                                                    decoder: decoder)
        guard byteCount >= BarrierCore.headerSize, BarrierCore(at: placement.pointer).parties == BarrierCore.parties(byteCount: byteCount) else {
            throw SynchronizationError(.sharedMemoryUnavailable, "\(Self.name): the \(handle) does not hold a barrier")
        }
        self.init(attaching: placement)
    }
}
