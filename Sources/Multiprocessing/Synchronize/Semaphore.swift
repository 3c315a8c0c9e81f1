extension Multiprocessing {
    /// A counter shared by every process of the tree: Python's `multiprocessing.Semaphore`.
    ///
    /// ``acquire(timeout:)-(Duration?)`` takes one unit, waiting while there is none; ``release(_:)`` gives
    /// units back. Any thread of any process may release: units are not owned.
    ///
    /// Its full name is `Multiprocessing.Semaphore` (as Python's `multiprocessing.Semaphore`), and
    /// the top-level ``Semaphore`` alias names it too; but Glibc, which `import Foundation`
    /// re-exports on Linux, declares a `Semaphore` type alias of its own (`sem_t *`), so in a file
    /// that imports Foundation or Glibc the bare name is ambiguous: write `Multiprocessing.Semaphore`.
    ///
    /// Futex-based (see `SemaphoreCore`): a process that dies while waiting leaves nothing
    /// behind. A `Codable` handle: every decoded copy is the same semaphore; its memory is freed
    /// with the last handle (see ``Lock``).
    ///
    /// ```swift
    /// let slots = try Multiprocessing.Semaphore(2)     // at most two processes in the section
    /// if try await slots.acquire(timeout: .seconds(5)) {
    ///     defer { try? slots.release() }
    ///     try await download()
    /// }
    /// ```
    // Unchecked only because the class is not final: every stored property is immutable and Sendable.
    public class Semaphore: @unchecked Sendable, Codable, CustomStringConvertible {
        /// Which of the two a semaphore is: its name in messages, its arena tag, whether bounded.
        struct Kind: Sendable {
            let name: String
            let tag: UInt64
            let bounded: Bool
        }

        /// Overridden by ``BoundedSemaphore``.
        class var kind: Kind { Kind(name: "Semaphore", tag: SharedPlacement.Tag.semaphore, bounded: false) }

        /// The semaphore's memory in the arena, and its kind (immutable: the class is
        /// `@unchecked Sendable` only because it is not final).
        let placement: SharedPlacement
        let kind: Kind
        var core: SemaphoreCore { SemaphoreCore(at: placement.pointer) }

        /// A semaphore holding `value` units (0 ... `Int32.max`). Throws
        /// ``SynchronizationError/Code/invalidArgument`` for a value outside that range (Python's
        /// `ValueError` for a negative one), ``SynchronizationError/Code/sharedMemoryUnavailable``
        /// when `arena` is full. (`Semaphore(_:)`, in Runtime/, uses the default runtime's arena.)
        convenience init(_ value: Int = 1, in arena: Arena) throws(SynchronizationError) {
            let kind = Self.kind
            try SemaphoreCore.validate(value, kind.name)
            let placement = try SharedPlacement.allocate(byteCount: SemaphoreCore.byteCount, alignment: SemaphoreCore.alignment,
                                                         tag: kind.tag, kind.name, in: arena)
            self.init(initializing: placement, value: value)
        }

        init(initializing placement: SharedPlacement, value: Int) {
            kind = Self.kind
            _ = SemaphoreCore.initialize(at: placement.pointer, value: value, bounded: kind.bounded)
            self.placement = placement
        }

        init(attaching placement: SharedPlacement) {
            kind = Self.kind
            self.placement = placement
        }

        /// Takes one unit, waiting at most `timeout` (nil: as long as it takes; zero: Python's
        /// `blocking=False`); false when the timeout passed first. The blocking form, for
        /// synchronous code (from async code the async form is chosen).
        public func acquire(timeout: Duration? = nil) throws -> Bool {
            let deadline = try SynchronizationError.deadline(timeout, "\(kind.name).acquire")
            return try core.acquire(until: deadline, cancellation: nil, kind.name)
        }

        /// The async form of ``acquire(timeout:)``: waits on a dedicated thread, never on Swift's
        /// cooperative pool; task cancellation ends the wait with `CancellationError` (no unit
        /// taken).
        public func acquire(timeout: Duration? = nil) async throws -> Bool {
            try await core.acquireAsync(keeping: self, timeout: timeout, kind.name)
        }

        /// Gives back `count` units (Python's `release(n)`), waking waiters. Throws
        /// ``SynchronizationError/Code/invalidArgument`` for a count below 1 or a value that would
        /// pass `Int32.max`; for a ``BoundedSemaphore``, ``SynchronizationError/Code/overReleased``
        /// (nothing released) when the value would pass its bound.
        public func release(_ count: Int = 1) throws(SynchronizationError) {
            try core.release(count, kind.name)
        }

        /// The units available now (Python's `get_value()`); stale as soon as it is read.
        public var value: Int { Int(core.value.load()) }

        /// A short description for logs.
        public var description: String { "\(kind.name)(value: \(value))" }

        /// Threads sleeping in an acquire now, in every process (a waiter that died counts on).
        var sleepers: Int { Int(core.waiters.load()) }

        /// Encodes the handle of the shared state (never the state itself): every decoded copy is
        /// the same primitive. Throws `EncodingError.invalidValue` for one placed outside the arena.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(placement.handleForEncoding(kind.name, encoder))
        }

        /// The semaphore a handle names. Throws ``SynchronizationError/Code/sharedMemoryUnavailable``
        /// for a handle that is not a live semaphore of this kind in this tree's arena.
        public required convenience init(from decoder: any Decoder) throws {
            let handle = try decoder.singleValueContainer().decode(ArenaHandle.self)
            let kind = Self.kind
            self.init(attaching: try SharedPlacement.resolve(handle, byteCount: SemaphoreCore.byteCount, tag: kind.tag, kind.name,
                                                             decoder: decoder))
        }
    }
}

/// Python's `multiprocessing.Semaphore`: ``Multiprocessing/Semaphore`` under its bare name,
/// for files that import neither Foundation nor Glibc (whose own `Semaphore` alias makes the
/// bare name ambiguous; write `Multiprocessing.Semaphore` there).
///
/// ```swift
/// let slots = try Semaphore(2)
/// ```
public typealias Semaphore = Multiprocessing.Semaphore

/// A ``Multiprocessing/Semaphore`` that refuses to go above its initial value (Python's
/// `multiprocessing.BoundedSemaphore`): a release without a matching acquire throws
/// ``SynchronizationError/Code/overReleased`` instead of silently growing the count.
///
/// ```swift
/// let connections = try BoundedSemaphore(4)
/// guard try connections.acquire(timeout: .seconds(1)) else { throw Busy() }
/// defer { try? connections.release() }
/// ```
// Unchecked: adds no state to `Semaphore`, whose stored properties are immutable and Sendable.
public final class BoundedSemaphore: Multiprocessing.Semaphore, @unchecked Sendable {
    override class var kind: Kind { Kind(name: "BoundedSemaphore", tag: SharedPlacement.Tag.boundedSemaphore, bounded: true) }
}
