/// An error of a manager operation: a key, object, method or type the manager does not know, a
/// value of another type than asked for, a wait that timed out or was cancelled, a lost
/// connection. A struct with an extensible ``Code`` (STYLE.md); the message names the object
/// and what happened. It travels between processes as a `RemoteError` named
/// `ManagerError.<code>` and comes back as itself.
///
/// ```swift
/// do { _ = try await cache.pop("missing") }
/// catch let error as ManagerError where error.code == .unknownKey { print(error.message) }
/// ```
public struct ManagerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name (`"unknownKey"`, `"wrongType"`, ...): what travels on the wire.
        public let name: String
        init(_ name: String) { self.name = name }
        /// The name.
        public var description: String { name }

        /// A dictionary has no such key (Python's `KeyError`).
        public static let unknownKey = Code("unknownKey")
        /// An index outside a list or array (Python's `IndexError`).
        public static let indexOutOfRange = Code("indexOutOfRange")
        /// The manager holds no object with this id (released, or never made by it).
        public static let unknownObject = Code("unknownObject")
        /// No object was made under this name.
        public static let unknownName = Code("unknownName")
        /// The object has no such method (Python's `AttributeError` on a proxy).
        public static let unknownMethod = Code("unknownMethod")
        /// The manager knows no type with this id (a custom type not registered where the
        /// manager runs), or a named object exists with another type.
        public static let unknownType = Code("unknownType")
        /// A value is not of the type asked for: the message names both.
        public static let wrongType = Code("wrongType")
        /// An argument that makes no sense (a negative count, a missing argument).
        public static let invalidArgument = Code("invalidArgument")
        /// A wait ended at its timeout.
        public static let timedOut = Code("timedOut")
        /// The caller's task was cancelled while the manager had the call waiting.
        public static let cancelled = Code("cancelled")
        /// The connection to the manager is gone (or was never there in this process).
        public static let disconnected = Code("disconnected")
        /// A lock's previous holder ended while holding it: the lock was released to this caller.
        public static let ownerDied = Code("ownerDied")
        /// A barrier was aborted or reset while this caller waited (Python's `BrokenBarrierError`).
        public static let brokenBarrier = Code("brokenBarrier")
        /// A release of a lock this caller does not hold.
        public static let notOwner = Code("notOwner")
        /// A bounded queue stayed full until the timeout.
        public static let full = Code("full")
        /// No item came before the timeout.
        public static let empty = Code("empty")
        /// The peer did not prove it knows the authkey.
        public static let authentication = Code("authentication")
        /// The manager stopped.
        public static let stopped = Code("stopped")
        /// A registered function or a custom object's method threw: the message carries its error.
        public static let functionFailed = Code("functionFailed")
        /// The other side sent something that is not the manager protocol.
        public static let protocolViolation = Code("protocolViolation")
    }

    /// What went wrong.
    public var code: Code
    /// A sentence naming the object and what happened.
    public var message: String

    /// An error with `code` and `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the message.
    public var description: String { "\(code): \(message)" }

    /// The prefix of a manager error's type name on the wire.
    static let remotePrefix = "ManagerError."

    /// The error as it travels: `{"type": "ManagerError.<code>", "message": ...}`.
    var remote: RemoteError { RemoteError(typeName: Self.remotePrefix + code.name, message: message) }

    /// A travelled error back as a manager error: its own code when it was one, else
    /// ``Code/protocolViolation`` (the supervisor refused the frame) with the remote message.
    init(remote: RemoteError) {
        if remote.typeName.hasPrefix(Self.remotePrefix) {
            self.init(Code(String(remote.typeName.dropFirst(Self.remotePrefix.count))), remote.message)
        } else if remote.isProtocolError {
            self.init(.protocolViolation, "the supervisor refused the request: \(remote)")
        } else {
            self.init(.functionFailed, remote.description)
        }
    }
}
