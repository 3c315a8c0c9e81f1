/// A manager-hosted `condition` (Python's `Manager().Condition()`): its own `rlock`, or the
/// state of a `lock`/`rlock` object it was created over; the proxy is ``ManagerCondition``.
/// Create arguments: `[lock: object id or nil]`.
///
/// `wait [token, timeout]` releases every level the caller holds and waits for a notify (or
/// the timeout), then queues to take the lock back at the same depth; it is answered (`true`:
/// notified, `false`: timed out) once it holds the lock again. `notify [token, count]` moves the
/// `count` oldest waiters to the lock's queue (they get the lock when the notifier releases it).
final class ManagedCondition: ManagedObject {
    let mutex: ManagedMutex
    /// "condition 5", for messages.
    let name: String
    /// Callers waiting for a notify: who they are and the depth they gave up.
    private let waiters = ManagerWaitList<(holder: ManagerLockHolder, levels: Int)>()

    /// Over the state of the `lock`/`rlock` object whose id is argument 0, or a new `rlock`'s
    /// (nil). Another object's id is ``ManagerError/Code/wrongType``, an unknown one
    /// ``ManagerError/Code/unknownObject``.
    init(_ call: ManagerCall) throws(ManagerError) {
        name = call.objectName
        guard let id = try call.optionalArgument(0, as: UInt64.self) else {
            mutex = ManagedMutex(reentrant: true, what: call.objectName)
            return
        }
        guard let found = call.server?.object(id) else {
            throw ManagerError(.unknownObject, "\(call.objectName): this manager holds no lock \(id) to make a condition over")
        }
        guard let lock = found.object as? ManagedLock else {
            throw ManagerError(.wrongType, "\(call.objectName): object \(id) is a \(found.typeID), not a lock or rlock")
        }
        mutex = lock.mutex
        mutex.share()
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        if let outcome = try mutex.perform(call) { return outcome }
        switch call.method {
        case "wait":
            let caller = ManagerLockHolder(client: call.client, token: try call.argument(0, as: UInt64.self))
            let timeout = try call.timeoutArgument(1)
            let levels = try mutex.releaseAll(caller, "\(name).wait")
            if ManagerCall.isNoWait(timeout) {
                mutex.reacquire(call, caller, levels: levels, notified: false)
            } else {
                waiters.enqueue(call, (caller, levels), timeout: timeout, onTimeout: { [mutex] waiter in
                    mutex.reacquire(waiter.call, waiter.detail.holder, levels: waiter.detail.levels, notified: false)
                })
            }
            return .later
        case "notify":
            let caller = ManagerLockHolder(client: call.client, token: try call.argument(0, as: UInt64.self))
            let count = try call.optionalArgument(1, as: Int.self) ?? 1
            guard count >= 0 else { throw ManagerError(.invalidArgument, "\(name).notify: the count \(count) is negative") }
            try mutex.check(caller, "\(name).notify")
            notify(count)
            return .value(.nil)
        case "notifyAll":
            let caller = ManagerLockHolder(client: call.client, token: try call.argument(0, as: UInt64.self))
            try mutex.check(caller, "\(name).notifyAll")
            notify(.max)
            return .value(.nil)
        default:
            throw call.unknownMethod(in: "ManagerCondition")
        }
    }

    private func notify(_ count: Int) {
        var left = count
        while left > 0, let waiter = waiters.popFirst() {
            mutex.reacquire(waiter.call, waiter.detail.holder, levels: waiter.detail.levels, notified: true)
            left -= 1
        }
    }

    func clientGone(_ client: UInt64) {
        waiters.drop(client: client)
        mutex.clientGone(client)
    }

    func stop() {
        waiters.stop("\(name).wait")
        mutex.detach()
    }
}
