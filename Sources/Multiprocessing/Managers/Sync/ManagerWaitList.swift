import NIOCore

/// One call waiting in a managed object (a lock's acquire, a queue's get), with what the
/// object keeps beside it (`detail`) and its timeout's timer. Confined to the manager's loop.
final class ManagerWaiter<Detail> {
    let call: ManagerCall
    var detail: Detail
    fileprivate var timer: Scheduled<Void>?

    fileprivate init(call: ManagerCall, detail: Detail) {
        self.call = call
        self.detail = detail
    }

    /// The caller's peer id.
    var client: UInt64 { call.client }
}

/// The calls waiting in one managed object, oldest first: each leaves the list when it is
/// served (``popFirst()``, ``remove(_:)``), when its timeout passes (its `onTimeout` answers
/// it), when its caller cancels it or ends (the core answers or forgets the call), or when
/// the manager stops (``stop()`` fails it with `.stopped`). Confined to the manager's loop.
final class ManagerWaitList<Detail> {
    private(set) var waiters: [ManagerWaiter<Detail>] = []

    var isEmpty: Bool { waiters.isEmpty }
    var count: Int { waiters.count }
    var first: ManagerWaiter<Detail>? { waiters.first }

    /// Keeps `call` waiting at the end of the list. When `timeout` (nil: none) passes first, the
    /// waiter leaves the list and `onTimeout` answers it; when the caller cancels the call,
    /// the waiter leaves the list and `onCancel` (if any) tells the object.
    @discardableResult
    func enqueue(_ call: ManagerCall, _ detail: Detail, timeout: Duration?,
                 onTimeout: @escaping (ManagerWaiter<Detail>) -> Void,
                 onCancel: ((ManagerWaiter<Detail>) -> Void)? = nil) -> ManagerWaiter<Detail> {
        let waiter = ManagerWaiter(call: call, detail: detail)
        waiters.append(waiter)
        call.onCancel = { [weak self, weak waiter] in
            guard let self, let waiter, self.remove(waiter) else { return }
            onCancel?(waiter)
        }
        if let timeout {
            waiter.timer = call.loop.assumeIsolated().scheduleTask(in: .nanoseconds(max(0, timeout.nanoseconds))) { [weak self, weak waiter] in
                guard let self, let waiter, self.remove(waiter) else { return }
                onTimeout(waiter)
            }
        }
        return waiter
    }

    /// Takes `waiter` off the list (its timer and cancel handler with it); false when it was
    /// not on it.
    @discardableResult
    func remove(_ waiter: ManagerWaiter<Detail>) -> Bool {
        guard let index = waiters.firstIndex(where: { $0 === waiter }) else { return false }
        waiters.remove(at: index)
        detach(waiter)
        return true
    }

    /// Takes the oldest waiter off the list, to be answered by the caller.
    func popFirst() -> ManagerWaiter<Detail>? {
        guard !waiters.isEmpty else { return nil }
        let waiter = waiters.removeFirst()
        detach(waiter)
        return waiter
    }

    /// Takes every waiter off the list, oldest first.
    func removeAll() -> [ManagerWaiter<Detail>] {
        let all = waiters
        waiters.removeAll()
        for waiter in all { detach(waiter) }
        return all
    }

    /// Takes the waiters of `client` off the list (it ended: nobody reads their answers);
    /// returns them.
    @discardableResult
    func drop(client: UInt64) -> [ManagerWaiter<Detail>] {
        let dropped = waiters.filter { $0.client == client }
        guard !dropped.isEmpty else { return [] }
        waiters.removeAll { $0.client == client }
        for waiter in dropped { detach(waiter) }
        return dropped
    }

    /// Fails every waiter with `.stopped` (the manager stops).
    func stop(_ what: String) {
        for waiter in removeAll() {
            waiter.call.fail(ManagerError(.stopped, "\(what): the manager stopped while this call waited"))
        }
    }

    private func detach(_ waiter: ManagerWaiter<Detail>) {
        waiter.timer?.cancel()
        waiter.timer = nil
        waiter.call.onCancel = nil
    }
}

extension ManagerCall {
    /// Whether `timeout` allows no wait at all (zero or negative: Python's `blocking=False`).
    static func isNoWait(_ timeout: Duration?) -> Bool {
        guard let timeout else { return false }
        return timeout <= .zero
    }
}
