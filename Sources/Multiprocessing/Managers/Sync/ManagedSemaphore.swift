/// A manager-hosted `semaphore` or `boundedSemaphore` (Python's `Manager().Semaphore(n)`,
/// `BoundedSemaphore(n)`): a count of units, which any client may release (units are not
/// owned, so a client that ends keeps what it took). The proxies are ``ManagerSemaphore`` and
/// ``ManagerBoundedSemaphore``. Create arguments: `[value: int or nil (1)]`.
final class ManagedSemaphore: ManagedObject {
    let bounded: Bool
    /// The bound of a bounded one: its initial value.
    let initial: Int
    private(set) var value: Int
    private let waiters = ManagerWaitList<Void>()
    /// "semaphore 4", for messages.
    let what: String

    init(_ call: ManagerCall, bounded: Bool) throws(ManagerError) {
        self.bounded = bounded
        what = call.objectName
        let value = try call.optionalArgument(0, as: Int.self) ?? 1
        guard value >= 0 else {
            throw ManagerError(.invalidArgument, "\(call.objectName): the initial value \(value) is negative")
        }
        self.value = value
        initial = value
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "acquire":
            let timeout = try call.timeoutArgument(0)
            if value > 0, waiters.isEmpty {
                value -= 1
                return .value(.bool(true))
            }
            if ManagerCall.isNoWait(timeout) { return .value(.bool(false)) }
            waiters.enqueue(call, (), timeout: timeout, onTimeout: { $0.call.answer(.bool(false)) })
            return .later
        case "release":
            let count = try call.optionalArgument(0, as: Int.self) ?? 1
            guard count >= 1 else { throw ManagerError(.invalidArgument, "\(what).release: the count \(count) is below 1") }
            let (sum, overflow) = value.addingReportingOverflow(count)
            guard !overflow else { throw ManagerError(.invalidArgument, "\(what).release: \(value) + \(count) overflows") }
            if bounded, sum > initial {
                throw ManagerError(.invalidArgument, "\(what).release: released too many times (the value would be \(sum), above its initial \(initial))")
            }
            value = sum
            while value > 0, let waiter = waiters.popFirst() {
                value -= 1
                waiter.call.answer(.bool(true))
            }
            return .value(.nil)
        case "value":
            return .value(.int(Int64(value)))
        default:
            throw call.unknownMethod(in: bounded ? "ManagerBoundedSemaphore" : "ManagerSemaphore")
        }
    }

    func clientGone(_ client: UInt64) { waiters.drop(client: client) }
    func stop() { waiters.stop("\(what).acquire") }
}
