import MessagePack
import NIOCore

/// An object that lives in a manager (a dictionary, a list, a lock, a user's registered type):
/// its methods run on the manager's loop, one call at a time, so it needs no lock of its own.
/// A proxy in any process calls it by name with msgpack arguments; the manager answers with the
/// value ``perform(_:)`` returns, or later, for a call that waits (a lock's acquire, a queue's
/// get), through the ``ManagerCall`` the object kept.
///
/// ```swift
/// /// A counter: "add" [n] -> the new total.
/// final class Tally: ManagedObject {
///     var total = 0
///     func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
///         guard call.method == "add" else { throw call.unknownMethod(in: "Tally") }
///         total += try call.argument(0, as: Int.self)
///         return .value(.int(Int64(total)))
///     }
/// }
/// ```
protocol ManagedObject: AnyObject {
    /// Runs `call`: `.value(v)` answers it now; `.later` means the object kept `call` and
    /// answers it with ``ManagerCall/answer(_:)`` or ``ManagerCall/fail(_:)`` when it can.
    /// A thrown error answers the call with that error.
    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome
    /// `client` ended or disconnected: release what it holds (locks) and drop its waits.
    func clientGone(_ client: UInt64)
    /// The manager stops: fail every waiting call with ``ManagerError/Code/stopped``.
    func stop()
}

extension ManagedObject {
    func clientGone(_ client: UInt64) {}
    func stop() {}
}

/// One call of a method of a managed object, as the object sees it: the method's name, its
/// arguments, who called, and the way to answer it (now, by returning a value from
/// ``ManagedObject/perform(_:)``, or later, once, through ``answer(_:)`` or ``fail(_:)``).
/// Confined to the manager's loop.
// Unchecked: confined to the manager's loop (a timer that fails it runs there too).
final class ManagerCall: @unchecked Sendable {
    /// What ``ManagedObject/perform(_:)`` did with the call.
    enum Outcome {
        /// Answer with this value now.
        case value(MessagePackValue)
        /// The object kept the call and answers it later.
        case later
    }

    /// The method's name.
    let method: String
    /// Its arguments, as they came.
    let arguments: [MessagePackValue]
    /// The caller's client id (its peer id; 0 for the manager's own process).
    let client: UInt64
    /// The caller's correlation of this call.
    let correlation: UInt64
    /// The manager's loop: timers of waiting calls run there.
    let loop: any EventLoop
    /// What the object is, for messages ("dictionary 3", "lock 7").
    let objectName: String
    private var reply: ((Result<[UInt8], ManagerError>) -> Void)?
    /// Called once when the caller cancels the call or ends before it was answered: the object
    /// removes the call from its waiters.
    var onCancel: (() -> Void)?
    /// The manager that runs the call: its registered functions, and where a method that
    /// makes a new object (Python's `method_to_typeid`) puts it.
    private(set) weak var server: ManagerObjects?

    init(method: String, arguments: [MessagePackValue], client: UInt64, correlation: UInt64, loop: any EventLoop,
         objectName: String, server: ManagerObjects?, reply: @escaping (Result<[UInt8], ManagerError>) -> Void) {
        self.server = server
        self.method = method
        self.arguments = arguments
        self.client = client
        self.correlation = correlation
        self.loop = loop
        self.objectName = objectName
        self.reply = reply
    }

    /// Whether the call was answered (or cancelled) already.
    var isAnswered: Bool { reply == nil }

    /// Answers the call with `value`; a second answer is ignored.
    func answer(_ value: MessagePackValue) {
        guard let reply else { return }
        self.reply = nil
        onCancel = nil
        reply(.success(value.bytes))
    }

    /// Answers the call with `error`; a second answer is ignored.
    func fail(_ error: ManagerError) {
        guard let reply else { return }
        self.reply = nil
        onCancel = nil
        reply(.failure(error))
    }

    /// The caller cancelled or ended: the object forgets the call, which is answered with
    /// ``ManagerError/Code/cancelled`` (nobody may be listening any more).
    func cancel() {
        guard !isAnswered else { return }
        let cancelled = onCancel
        onCancel = nil
        cancelled?()
        fail(ManagerError(.cancelled, "\(objectName).\(method): cancelled by the caller"))
    }

    // MARK: arguments

    /// Argument `index` decoded as `T`: a missing argument is ``ManagerError/Code/invalidArgument``,
    /// one of another type ``ManagerError/Code/wrongType``, each naming the object, the method,
    /// the index and the types.
    func argument<T: Decodable>(_ index: Int, as type: T.Type = T.self) throws(ManagerError) -> T {
        guard index < arguments.count else {
            throw ManagerError(.invalidArgument, "\(objectName).\(method) takes at least \(index + 1) arguments; \(arguments.count) came")
        }
        return try Self.decode(arguments[index], as: type, what: "\(objectName).\(method) argument \(index)")
    }

    /// Argument `index` decoded as `T`, or nil when it is absent or msgpack nil.
    func optionalArgument<T: Decodable>(_ index: Int, as type: T.Type = T.self) throws(ManagerError) -> T? {
        guard index < arguments.count, !arguments[index].isNil else { return nil }
        return try argument(index, as: type)
    }

    /// Argument `index` as it came (nil when absent).
    func rawArgument(_ index: Int) throws(ManagerError) -> MessagePackValue {
        guard index < arguments.count else {
            throw ManagerError(.invalidArgument, "\(objectName).\(method) takes at least \(index + 1) arguments; \(arguments.count) came")
        }
        return arguments[index]
    }

    /// A timeout argument: seconds as a number (nil or absent: none). A negative one is
    /// ``ManagerError/Code/invalidArgument``.
    func timeoutArgument(_ index: Int) throws(ManagerError) -> Duration? {
        guard let seconds = try optionalArgument(index, as: Double.self) else { return nil }
        guard seconds >= 0, seconds.isFinite else {
            throw ManagerError(.invalidArgument, "\(objectName).\(method): a timeout must be a finite number of seconds >= 0, not \(seconds)")
        }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    /// The error for a method the object does not have.
    func unknownMethod(in typeName: String) -> ManagerError {
        ManagerError(.unknownMethod, "\(objectName) (\(typeName)) has no method \"\(method)\"")
    }

    /// Answers with ``ManagerError/Code/timedOut`` after `timeout` unless answered first.
    func expire(after timeout: Duration, _ message: @escaping @Sendable () -> String) {
        let task = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [weak self] in
            guard let self, !self.isAnswered else { return }
            let cancelled = self.onCancel
            self.onCancel = nil
            cancelled?()
            self.fail(ManagerError(.timedOut, message()))
        }
        let previous = onCancel
        // A call answered first cancels its timer through the answer's path: the timer finds
        // it answered and does nothing; this only keeps the task from firing late for nothing.
        onCancel = { task.cancel(); previous?() }
    }

    /// `value` decoded as `T`, or ``ManagerError/Code/wrongType`` naming `what` and both types.
    static func decode<T: Decodable>(_ value: MessagePackValue, as type: T.Type, what: String) throws(ManagerError) -> T {
        if T.self == MessagePackValue.self { return value as! T }
        do {
            return try MessagePackDecoder().decode(type, from: value.bytes)
        } catch {
            throw ManagerError(.wrongType, "\(what) is \(value.typeDescription), not \(String(describing: T.self)) (\(error))")
        }
    }
}

extension MessagePackValue {
    /// The msgpack type of this value in words, for error messages.
    var typeDescription: String {
        switch self {
        case .nil: "nil"
        case .bool: "a bool"
        case .int, .uint: "an integer"
        case .float, .double: "a float"
        case .string: "a string"
        case .binary: "binary"
        case .array: "an array"
        case .map: "a map"
        case .extension: "an extension value"
        case .timestamp: "a timestamp"
        }
    }
}
