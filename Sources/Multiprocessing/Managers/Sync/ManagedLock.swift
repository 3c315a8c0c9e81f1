/// Who holds a manager lock: a client process (its peer id) and the caller's token in it (a
/// `withLock` scope's, or 0 for "the process", see ``ManagerLock``).
struct ManagerLockHolder: Hashable, CustomStringConvertible {
    let client: UInt64
    let token: UInt64
    var description: String { "client \(client) (token \(token))" }
}

/// The state of a manager-hosted lock (typeids `lock`, `rlock`, and a `condition`'s lock):
/// who holds it, how deep, who waits, and the owner-died mark. Confined to the manager's loop.
///
/// Mirrors the shared-memory ``Lock``: when a holder's client ends, the lock is released and
/// marked; from then on every acquisition without recovery is refused with
/// `ManagerError.ownerDied` (not holding the lock) until one that brings a recovery is granted
/// (answered ``Status/ownerDied``), runs its repair on the client and sends `recovered`.
final class ManagedMutex {
    /// An `acquire`'s answer on the wire.
    enum Status: Int64 {
        /// The timeout passed first.
        case timedOut = 0
        /// Held.
        case acquired = 1
        /// Held, and a holder died before: repair the protected state, then send `recovered`.
        case ownerDied = 2
    }

    /// What a waiting call wants when it is granted the lock.
    struct Request {
        let holder: ManagerLockHolder
        /// The depth to hold it at (a condition's waiter takes back every level it released).
        let levels: Int
        enum Purpose {
            /// An `acquire`; with `recovering`, granted even when marked (answered `ownerDied`).
            case acquire(recovering: Bool)
            /// A condition's waiter taking the lock back: answered whether it was notified.
            case reacquire(notified: Bool)
        }
        let purpose: Purpose
    }

    let reentrant: Bool
    /// "lock", "rlock", "condition": for messages.
    let what: String
    private(set) var holder: ManagerLockHolder?
    private(set) var depth = 0
    /// A holder's client ended holding the lock, and no recovery ran since.
    private(set) var ownerDied = false
    private let waiters = ManagerWaitList<Request>()

    init(reentrant: Bool, what: String) {
        self.reentrant = reentrant
        self.what = what
    }

    // MARK: the methods every lock-like object shares

    /// Performs the lock methods (`acquire`, `release`, `recovered`, `isLocked`, `ownerDied`);
    /// nil for another method.
    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome? {
        switch call.method {
        case "acquire":
            let holder = ManagerLockHolder(client: call.client, token: try call.argument(0, as: UInt64.self))
            let timeout = try call.timeoutArgument(1)
            let recovering = try call.optionalArgument(2, as: Bool.self) ?? false
            return try acquire(call, holder, timeout: timeout, recovering: recovering)
        case "release":
            try release(ManagerLockHolder(client: call.client, token: try call.argument(0, as: UInt64.self)), "\(what).release")
            return .value(.nil)
        case "recovered":
            let caller = ManagerLockHolder(client: call.client, token: try call.argument(0, as: UInt64.self))
            guard holder == caller else { throw notOwner(caller, "\(what).recovered") }
            ownerDied = false
            return .value(.nil)
        case "isLocked":
            return .value(.bool(holder != nil))
        case "ownerDied":
            return .value(.bool(ownerDied))
        default:
            return nil
        }
    }

    private func acquire(_ call: ManagerCall, _ caller: ManagerLockHolder, timeout: Duration?,
                         recovering: Bool) throws(ManagerError) -> ManagerCall.Outcome {
        if let holder, holder == caller {
            if reentrant {
                depth += 1
                return .value(.int(Status.acquired.rawValue))
            }
            // Only this caller could release it, so its wait would be in vain (token 0, "the
            // process", is shared by the process's tasks: one of them may release it).
            if caller.token != 0 {
                if timeout != nil { return .value(.int(Status.timedOut.rawValue)) }
                throw ManagerError(.invalidArgument, "\(what).acquire: \(caller) holds this lock already and would wait forever (an rlock can be acquired again by its holder)")
            }
        }
        if holder == nil, waiters.isEmpty {
            if ownerDied, !recovering { throw ownerDiedError("\(what).acquire") }
            take(caller, levels: 1)
            return .value(.int((ownerDied ? Status.ownerDied : .acquired).rawValue))
        }
        if ManagerCall.isNoWait(timeout) { return .value(.int(Status.timedOut.rawValue)) }
        waiters.enqueue(call, Request(holder: caller, levels: 1, purpose: .acquire(recovering: recovering)), timeout: timeout,
                        onTimeout: { $0.call.answer(.int(Status.timedOut.rawValue)) })
        return .later
    }

    /// Releases one level for `caller`; throws `notOwner` when it does not hold the lock.
    func release(_ caller: ManagerLockHolder, _ what: String) throws(ManagerError) {
        guard holder == caller else { throw notOwner(caller, what) }
        depth -= 1
        if depth == 0 {
            holder = nil
            handOver()
        }
    }

    // MARK: for a condition

    /// Releases every level `caller` holds (a condition's wait); returns how many.
    func releaseAll(_ caller: ManagerLockHolder, _ what: String) throws(ManagerError) -> Int {
        guard holder == caller else { throw notOwner(caller, what) }
        let levels = depth
        depth = 0
        holder = nil
        handOver()
        return levels
    }

    /// Whether `caller` holds the lock (a condition's notify).
    func check(_ caller: ManagerLockHolder, _ what: String) throws(ManagerError) {
        guard holder == caller else { throw notOwner(caller, what) }
    }

    /// Queues `call` (a condition's waiter) to take the lock back at `levels`; it is answered
    /// `notified` once it holds it (no timeout: Python's wait takes the lock back whatever it
    /// takes).
    func reacquire(_ call: ManagerCall, _ caller: ManagerLockHolder, levels: Int, notified: Bool) {
        waiters.enqueue(call, Request(holder: caller, levels: levels, purpose: .reacquire(notified: notified)), timeout: nil,
                        onTimeout: { _ in })
        handOver()
    }

    // MARK: ends

    /// `client` ended: its waiting calls are dropped; if it held the lock, the lock is released
    /// and marked (the next holder is told).
    func clientGone(_ client: UInt64) {
        waiters.drop(client: client)
        if let holder, holder.client == client {
            self.holder = nil
            depth = 0
            ownerDied = true
            handOver()
        }
    }

    /// How many objects use this state (a lock and the conditions made over it): the last
    /// to stop fails the waiting calls.
    private var users = 1

    /// One more object uses the state (a condition made over the lock).
    func share() { users += 1 }

    /// An object that used the state stopped (the manager stops, or nobody references it):
    /// the last one fails every waiting call with `.stopped`.
    func detach() {
        users -= 1
        if users == 0 { waiters.stop(what) }
    }

    // MARK: the work

    private func take(_ caller: ManagerLockHolder, levels: Int) {
        holder = caller
        depth = levels
    }

    /// Grants the free lock to the oldest waiter that may have it; refuses, on the way, the
    /// acquisitions without recovery of a marked lock.
    private func handOver() {
        while holder == nil, let waiter = waiters.popFirst() {
            let request = waiter.detail
            switch request.purpose {
            case .acquire(let recovering):
                if ownerDied, !recovering {
                    waiter.call.fail(ownerDiedError("\(what).acquire"))
                    continue
                }
                take(request.holder, levels: request.levels)
                waiter.call.answer(.int((ownerDied ? Status.ownerDied : .acquired).rawValue))
            case .reacquire(let notified):
                take(request.holder, levels: request.levels)
                if ownerDied {
                    waiter.call.fail(ManagerError(.ownerDied, "\(what).wait: a client ended holding the lock while this caller waited; the lock is held again"))
                } else {
                    waiter.call.answer(.bool(notified))
                }
            }
        }
    }

    private func notOwner(_ caller: ManagerLockHolder, _ what: String) -> ManagerError {
        ManagerError(.notOwner, "\(what): \(caller) does not hold the lock (\(holder.map { "held by \($0)" } ?? "not held"))")
    }

    private func ownerDiedError(_ what: String) -> ManagerError {
        ManagerError(.ownerDied, "\(what): a client ended holding the lock; the state it protects may be half-updated. Acquire with a recovery closure (withLock(recovering:) or acquire(recovering:)) to repair it")
    }
}

/// A manager-hosted `lock` or `rlock` (Python's `Manager().Lock()`/`RLock()`): the proxies are
/// ``ManagerLock`` and ``ManagerRLock``. Create arguments: none.
final class ManagedLock: ManagedObject {
    let mutex: ManagedMutex

    init(reentrant: Bool, _ call: ManagerCall) {
        mutex = ManagedMutex(reentrant: reentrant, what: call.objectName)
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        guard let outcome = try mutex.perform(call) else { throw call.unknownMethod(in: mutex.reentrant ? "ManagerRLock" : "ManagerLock") }
        return outcome
    }

    func clientGone(_ client: UInt64) { mutex.clientGone(client) }
    func stop() { mutex.detach() }
}
