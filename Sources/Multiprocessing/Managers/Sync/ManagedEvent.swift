/// A manager-hosted `event` (Python's `Manager().Event()`): a flag; `wait [timeout]` answers
/// `true` once it is set, `false` when the timeout passes first. The proxy is ``ManagerEvent``.
/// Create arguments: none.
final class ManagedEvent: ManagedObject {
    /// "event 2", for messages.
    let name: String
    private(set) var isSet = false
    private let waiters = ManagerWaitList<Void>()

    init(_ call: ManagerCall) { name = call.objectName }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "set":
            isSet = true
            for waiter in waiters.removeAll() { waiter.call.answer(.bool(true)) }
            return .value(.nil)
        case "clear":
            isSet = false
            return .value(.nil)
        case "isSet":
            return .value(.bool(isSet))
        case "wait":
            let timeout = try call.timeoutArgument(0)
            if isSet { return .value(.bool(true)) }
            if ManagerCall.isNoWait(timeout) { return .value(.bool(false)) }
            waiters.enqueue(call, (), timeout: timeout, onTimeout: { $0.call.answer(.bool(false)) })
            return .later
        default:
            throw call.unknownMethod(in: "ManagerEvent")
        }
    }

    func clientGone(_ client: UInt64) { waiters.drop(client: client) }
    func stop() { waiters.stop("\(name).wait") }
}
