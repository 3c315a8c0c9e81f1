/// An error of a queue operation: Python's `queue.Full`, `queue.Empty` and `queue.ShutDown`, a
/// handle closed in this process, a bad argument. A struct with an extensible ``Code`` (STYLE.md); the message names the queue.
///
/// ```swift
/// do { let job = try await jobs.get(timeout: .seconds(1)) }
/// catch let error as QueueError where error.code == .empty { print("nothing came") }
/// ```
public struct QueueError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name (`"full"`, `"empty"`, ...).
        public let name: String
        init(_ name: String) { self.name = name }
        /// The name.
        public var description: String { name }

        /// A bounded queue stayed full until the timeout (Python's `queue.Full`).
        public static let full = Code("full")
        /// No item came before the timeout (Python's `queue.Empty`).
        public static let empty = Code("empty")
        /// This process closed its handle with `close()` (it puts and gets no more): Python's
        /// `ValueError("Queue ... is closed")`. Other processes are not affected.
        public static let closed = Code("closed")
        /// The queue was shut down for every process with `shutdown()`: no more puts anywhere,
        /// and a get finds it drained (Python 3.13's `queue.ShutDown`).
        public static let shutDown = Code("shutDown")
        /// The item encodes to more than the largest frame (minus the queue's headers).
        public static let itemTooLarge = Code("itemTooLarge")
        /// A negative timeout or maxsize, or another argument that makes no sense.
        public static let invalidArgument = Code("invalidArgument")
        /// `taskDone()` was called more times than this process got items.
        public static let taskDoneTooManyTimes = Code("taskDoneTooManyTimes")
        /// The channel to the supervisor is gone, or the supervisor refused a frame.
        public static let disconnected = Code("disconnected")
    }

    /// What went wrong.
    public var code: Code
    /// A sentence naming the queue and what happened.
    public var message: String

    /// An error with `code` and `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the message.
    public var description: String { "\(code): \(message)" }
}
