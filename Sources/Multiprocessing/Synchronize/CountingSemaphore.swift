/// A counter shared by every process of the tree: Python's `multiprocessing.Semaphore`, under
/// another name because Glibc (which every file importing Foundation sees) declares a
/// `Semaphore` type alias, and `Multiprocessing.Semaphore` could not tell them apart (it names
/// the `Multiprocessing` enum's member).
///
/// ``acquire(timeout:)-(Duration?)`` takes one unit, waiting while there is none; ``release(_:)`` gives
/// units back. Any thread of any process may release: units are not owned.
///
/// Futex-based (see `SemaphoreCore`): a process that dies while waiting leaves nothing
/// behind. A `Codable` handle: every decoded copy is the same semaphore; its memory is never
/// freed.
///
/// ```swift
/// let slots = try CountingSemaphore(2)             // at most two processes in the section
/// if try await slots.acquire(timeout: .seconds(5)) {
///     defer { try? slots.release() }
///     try await download()
/// }
/// ```
public final class CountingSemaphore: Sendable, Codable, CustomStringConvertible {
    let placement: SharedPlacement
    var core: SemaphoreCore { SemaphoreCore(at: placement.pointer) }
    static let name = "CountingSemaphore"

    /// A semaphore holding `value` units (0 ... `Int32.max`). Throws
    /// ``SynchronizationError/Code/invalidArgument`` for a value outside that range (Python's
    /// `ValueError` for a negative one), ``SynchronizationError/Code/sharedMemoryUnavailable``
    /// when this process has no arena or it is full.
    public convenience init(_ value: Int = 1) throws(SynchronizationError) {
        try SemaphoreCore.validate(value, Self.name)
        let placement = try SharedPlacement.allocate(byteCount: SemaphoreCore.byteCount, alignment: SemaphoreCore.alignment,
                                                     tag: SharedPlacement.Tag.semaphore, Self.name)
        self.init(initializing: placement, value: value)
    }

    init(initializing placement: SharedPlacement, value: Int) {
        _ = SemaphoreCore.initialize(at: placement.pointer, value: value, bounded: false)
        self.placement = placement
    }

    init(attaching placement: SharedPlacement) { self.placement = placement }

    /// Takes one unit, waiting at most `timeout` (nil: as long as it takes; zero: Python's
    /// `blocking=False`); false when the timeout passed first. The blocking form, for
    /// synchronous code (from async code the async form is chosen).
    public func acquire(timeout: Duration? = nil) throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, "\(Self.name).acquire")
        return try core.acquire(until: deadline, cancellation: nil, Self.name)
    }

    /// The async form of ``acquire(timeout:)``: waits on a dedicated thread, never on Swift's
    /// cooperative pool; task cancellation ends the wait with `CancellationError` (no unit
    /// taken).
    public func acquire(timeout: Duration? = nil) async throws -> Bool {
        try await core.acquireAsync(keeping: self, timeout: timeout, Self.name)
    }

    /// Gives back `count` units (Python's `release(n)`), waking waiters. Throws
    /// ``SynchronizationError/Code/invalidArgument`` for a count below 1 or a value that would
    /// pass `Int32.max`.
    public func release(_ count: Int = 1) throws(SynchronizationError) {
        try core.release(count, Self.name)
    }

    /// The units available now (Python's `get_value()`); stale as soon as it is read.
    public var value: Int { Int(core.value.load()) }

    /// A short description for logs.
    public var description: String { "CountingSemaphore(value: \(value))" }

    /// Threads sleeping in an acquire now, in every process (a waiter that died counts on).
    var sleepers: Int { Int(core.waiters.load()) }

    /// Encodes the handle of the shared state (never the state itself): every decoded copy is
    /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(placement.handleForEncoding(Self.name, encoder))
    }

    /// The semaphore a handle names. Throws ``SynchronizationError/Code/sharedMemoryUnavailable``
    /// for a handle that is not a live Semaphore of this tree's arena.
    public convenience init(from decoder: any Decoder) throws {
        let handle = try decoder.singleValueContainer().decode(ArenaHandle.self)
        self.init(attaching: try SharedPlacement.resolve(handle, byteCount: SemaphoreCore.byteCount,
                                                         tag: SharedPlacement.Tag.semaphore, Self.name))
    }
}

/// A ``CountingSemaphore`` that refuses to go above its initial value (Python's
/// `multiprocessing.BoundedSemaphore`): a release without a matching acquire throws
/// ``SynchronizationError/Code/overReleased`` instead of silently growing the count.
///
/// ```swift
/// let connections = try BoundedSemaphore(4)
/// guard try connections.acquire(timeout: .seconds(1)) else { throw Busy() }
/// defer { try? connections.release() }
/// ```
public final class BoundedSemaphore: Sendable, Codable, CustomStringConvertible {
    let placement: SharedPlacement
    var core: SemaphoreCore { SemaphoreCore(at: placement.pointer) }
    static let name = "BoundedSemaphore"

    /// A semaphore holding `value` units, which is also its bound. Errors as
    /// ``CountingSemaphore/init(_:)``.
    public convenience init(_ value: Int = 1) throws(SynchronizationError) {
        try SemaphoreCore.validate(value, Self.name)
        let placement = try SharedPlacement.allocate(byteCount: SemaphoreCore.byteCount, alignment: SemaphoreCore.alignment,
                                                     tag: SharedPlacement.Tag.boundedSemaphore, Self.name)
        self.init(initializing: placement, value: value)
    }

    init(initializing placement: SharedPlacement, value: Int) {
        _ = SemaphoreCore.initialize(at: placement.pointer, value: value, bounded: true)
        self.placement = placement
    }

    init(attaching placement: SharedPlacement) { self.placement = placement }

    /// Takes one unit; see ``CountingSemaphore/acquire(timeout:)-(Duration?)``.
    public func acquire(timeout: Duration? = nil) throws -> Bool {
        let deadline = try SynchronizationError.deadline(timeout, "\(Self.name).acquire")
        return try core.acquire(until: deadline, cancellation: nil, Self.name)
    }

    /// The async form of ``acquire(timeout:)-(Duration?)``; see ``CountingSemaphore``'s.
    public func acquire(timeout: Duration? = nil) async throws -> Bool {
        try await core.acquireAsync(keeping: self, timeout: timeout, Self.name)
    }

    /// Gives back `count` units. Throws ``SynchronizationError/Code/overReleased`` (nothing
    /// released) when the value would pass the bound, ``SynchronizationError/Code/invalidArgument``
    /// for a count below 1.
    public func release(_ count: Int = 1) throws(SynchronizationError) {
        try core.release(count, Self.name)
    }

    /// The units available now; stale as soon as it is read.
    public var value: Int { Int(core.value.load()) }

    /// A short description for logs.
    public var description: String { "BoundedSemaphore(value: \(value))" }

    /// Encodes the handle of the shared state (never the state itself): every decoded copy is
    /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(placement.handleForEncoding(Self.name, encoder))
    }

    /// The bounded semaphore a handle names. Throws
    /// ``SynchronizationError/Code/sharedMemoryUnavailable`` for a handle that is not a live
    /// BoundedSemaphore of this tree's arena.
    public convenience init(from decoder: any Decoder) throws {
        let handle = try decoder.singleValueContainer().decode(ArenaHandle.self)
        self.init(attaching: try SharedPlacement.resolve(handle, byteCount: SemaphoreCore.byteCount,
                                                         tag: SharedPlacement.Tag.boundedSemaphore, Self.name))
    }
}
