/// An error of shared memory: the arena, shared values, arrays and atomics, named segments.
/// It says what went wrong (``code``) and where (the handle's offset, the type, the segment's
/// name) in ``message``. A struct with an extensible ``Code`` (STYLE.md).
///
/// ```swift
/// do { _ = try SharedMemory(attaching: "no-such-segment") }
/// catch let error as SharedMemoryError where error.code == .segmentNotFound { print(error) }
/// ```
public struct SharedMemoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. Extensible: compare with `==`, do not `switch` exhaustively.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as printed.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// This process has no arena: a child started without one (a foreign program's child),
        /// or the arena could not be created or mapped.
        public static let arenaUnavailable = Code("arenaUnavailable")
        /// A primitive made without a runtime before `Multiprocessing.bootstrap` made the
        /// default one: there is no arena to put it in.
        public static let notBootstrapped = Code("notBootstrapped")
        /// The arena has no room left for the allocation.
        public static let arenaExhausted = Code("arenaExhausted")
        /// The size asked for is beyond what the arena can ever hold.
        public static let tooLarge = Code("tooLarge")
        /// The handle's memory was freed (and maybe reused): its generation does not match.
        public static let staleHandle = Code("staleHandle")
        /// The handle was made for another element type.
        public static let typeMismatch = Code("typeMismatch")
        /// The handle's size is not the size expected (another count, another type's stride).
        public static let sizeMismatch = Code("sizeMismatch")
        /// The handle belongs to another arena (another process tree, an old run).
        public static let foreignHandle = Code("foreignHandle")
        /// An argument made no sense (a negative count, a bad alignment, an empty name).
        public static let invalidArgument = Code("invalidArgument")
        /// An index was outside an array.
        public static let indexOutOfRange = Code("indexOutOfRange")
        /// `withLock` on a value or array made with `lock: .none`.
        public static let noLock = Code("noLock")
        /// No shared memory segment has that name.
        public static let segmentNotFound = Code("segmentNotFound")
        /// A segment with that name exists already.
        public static let segmentExists = Code("segmentExists")
        /// The segment table in the arena is full (too many segments created and not unlinked).
        public static let tooManySegments = Code("tooManySegments")
        /// The segment was closed in this process.
        public static let closed = Code("closed")
        /// The arena's bookkeeping does not add up (memory overwritten by a stray write).
        public static let corrupted = Code("corrupted")
        /// A value does not fit where it goes: a string or bytes longer than its
        /// ``ShareableList`` slot, an integer beyond 64 bits.
        public static let valueTooLarge = Code("valueTooLarge")
        /// A value of a type a ``ShareableList`` cannot hold, or an element stored in a format
        /// it does not read.
        public static let unsupportedType = Code("unsupportedType")
        /// The segment's bytes are not a ``ShareableList``'s layout (another kind of segment,
        /// or one overwritten).
        public static let notAShareableList = Code("notAShareableList")
        /// The ``SharedMemoryManager`` was shut down: it makes no more segments.
        public static let stopped = Code("stopped")
        /// A system call failed; ``SharedMemoryError/underlyingError`` says which and why.
        public static let systemCallFailed = Code("systemCallFailed")
    }

    /// What went wrong.
    public var code: Code
    /// What and where, for a human.
    public var message: String
    /// The system error behind it, if any.
    public var underlyingError: SystemError?

    /// An error of `code` described by `message`.
    public init(_ code: Code, _ message: String, underlyingError: SystemError? = nil) {
        self.code = code
        self.message = message
        self.underlyingError = underlyingError
    }

    init(_ error: SystemError, _ message: String) {
        self.init(.systemCallFailed, "\(message): \(error)", underlyingError: error)
    }

    public var description: String { "\(code): \(message)" }
}
