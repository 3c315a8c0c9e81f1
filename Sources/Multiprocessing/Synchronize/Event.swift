/// A flag shared by every process of the tree (Python's `multiprocessing.Event`): ``wait(timeout:)``
/// sleeps until some process calls ``set()``; ``clear()`` lowers it again.
///
/// Layout: two futex words, `flag` (0 or 1, what waiters sleep on) and `waiters` (how many
/// sleep or are about to: ``set()`` skips the wake system call when nobody waits). Why it
/// survives a dead process: nothing is held; ``set()`` wakes every sleeper, each re-reads the
/// flag, and a waiter that dies only leaves `waiters` one too high (a wasted wake later). A
/// setter killed between raising the flag and waking is covered by the sleepers' look at the
/// flag at least once a second.
///
/// ```swift
/// let ready = try Event()
/// let child = try await ChildProcess.start(warmUp, ready)   // the child calls ready.set()
/// guard try await ready.wait(timeout: .seconds(30)) else { throw StartTimedOut() }
/// ```
public final class Event: Sendable, Codable, CustomStringConvertible {
    let placement: SharedPlacement
    static let name = "Event"
    static let byteCount = 8
    private var flag: FutexWord { FutexWord(placement.pointer) }
    private var waiters: FutexWord { FutexWord(placement.pointer + 4) }

    /// A new event in `arena`, not set. Throws ``SynchronizationError/Code/sharedMemoryUnavailable``
    /// when it is full. (`Event()`, in Runtime/, uses the default runtime's arena.)
    convenience init(in arena: Arena) throws(SynchronizationError) {
        self.init(initializing: try SharedPlacement.allocate(byteCount: Self.byteCount, alignment: 4,
                                                             tag: SharedPlacement.Tag.event, Self.name, in: arena))
    }

    init(initializing placement: SharedPlacement) {
        self.placement = placement
        flag.initialize(to: 0)
        waiters.initialize(to: 0)
    }

    init(attaching placement: SharedPlacement) { self.placement = placement }

    /// Whether the flag is up.
    public var isSet: Bool { flag.load() != 0 }

    /// Raises the flag and wakes every waiter, in every process.
    public func set() {
        flag.store(1)
        if waiters.load() > 0 { flag.wake() }
    }

    /// Lowers the flag: later waits sleep until the next ``set()``.
    public func clear() { flag.store(0) }

    /// Waits until the flag is up, at most `timeout` (nil: as long as it takes); returns whether
    /// it is up (false: the timeout passed), as Python's `wait`. The blocking form, for
    /// synchronous code. A negative timeout is zero (Python's): one look.
    public func wait(timeout: Duration? = nil) throws -> Bool {
        try wait(until: try SynchronizationError.deadline(timeout, "\(Self.name).wait"), cancellation: nil)
    }

    /// The async form of ``wait(timeout:)-(Duration?)``: waits on a dedicated thread, never on Swift's
    /// cooperative pool; task cancellation ends it with `CancellationError`.
    public func wait(timeout: Duration? = nil) async throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, "\(Self.name).wait")
        try Task.checkCancellation()
        if isSet { return true }
        if let deadline, deadline.hasPassed { return false }
        return try await BlockingWait.run("\(Self.name).wait") { [self] cancellation in
            cancellation.onCancel { [self] in flag.wake() }
            return try wait(until: deadline, cancellation: cancellation)
        }
    }

    private func wait(until deadline: MonotonicInstant?, cancellation: WaitCancellation?) throws -> Bool {
        while true {
            if isSet { return true }
            if let cancellation, cancellation.isCancelled { throw CancellationError() }
            if let deadline, deadline.hasPassed { return false }
            waiters.add(1)
            let outcome = flag._nap(whileEqualTo: 0, until: deadline)
            waiters.subtract(1)
            if case .failure(let errno) = outcome { throw SynchronizationError.system(errno, "futex", "\(Self.name).wait") }
        }
    }

    /// Threads sleeping in a wait now, in every process (a waiter that died counts on).
    var sleepers: Int { Int(waiters.load()) }

    /// A short description for logs.
    public var description: String { "Event(\(isSet ? "set" : "clear"))" }

    /// Encodes the handle of the shared state (never the state itself): every decoded copy is
    /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(placement.handleForEncoding(Self.name, encoder))
    }

    /// The event a handle names. Throws ``SynchronizationError/Code/sharedMemoryUnavailable``
    /// for a handle that is not a live Event of this tree's arena.
    public convenience init(from decoder: any Decoder) throws {
        let handle = try decoder.singleValueContainer().decode(ArenaHandle.self)
        self.init(attaching: try SharedPlacement.resolve(handle, byteCount: Self.byteCount, tag: SharedPlacement.Tag.event, Self.name,
                                                         decoder: decoder))
    }
}
