/// A manager-hosted `barrier` (Python's `Manager().Barrier(parties, timeout=)`, without an
/// action): `wait [timeout]` blocks until `parties` callers have arrived, then all are answered
/// their arrival index (0 for the first, `parties - 1` for the last) and the next round starts.
/// The proxy is ``ManagerBarrier``. Create arguments: `[parties: int, timeout: seconds or nil]`.
///
/// Broken (`ManagerError.brokenBarrier`, Python's `BrokenBarrierError`) when a waiting party
/// times out, is cancelled or its client ends, or on `abort`: every waiter of that round and
/// every later `wait` fails until `reset`.
final class ManagedBarrier: ManagedObject {
    /// "barrier 6", for messages.
    let name: String
    let parties: Int
    /// The timeout of a wait that gives none.
    let defaultTimeout: Duration?
    private(set) var isBroken = false
    /// The parties of this round, by arrival (the detail is the index).
    private let waiters = ManagerWaitList<Int>()

    init(_ call: ManagerCall) throws(ManagerError) {
        name = call.objectName
        let parties = try call.argument(0, as: Int.self)
        guard (1...65_536).contains(parties) else {
            throw ManagerError(.invalidArgument, "\(call.objectName): \(parties) parties is not in 1...65536")
        }
        self.parties = parties
        defaultTimeout = try call.timeoutArgument(1)
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "wait":
            let timeout = try call.timeoutArgument(0) ?? defaultTimeout
            guard !isBroken else { throw broken("\(name).wait: the barrier is broken (reset it to use it again)") }
            let index = waiters.count
            if index == parties - 1 {
                for waiter in waiters.removeAll() { waiter.call.answer(.int(Int64(waiter.detail))) }
                return .value(.int(Int64(index)))
            }
            if ManagerCall.isNoWait(timeout) {
                breakBarrier("\(name).wait: a party's timeout passed before every party arrived")
                throw broken("\(name).wait: the timeout passed before every party arrived")
            }
            waiters.enqueue(call, index, timeout: timeout, onTimeout: { [self] waiter in
                waiter.call.fail(broken("\(name).wait: the timeout passed before every party arrived"))
                breakBarrier("\(name).wait: a party's timeout passed before every party arrived")
            }, onCancel: { [self] _ in
                breakBarrier("\(name).wait: a waiting party was cancelled or its process ended")
            })
            return .later
        case "abort":
            breakBarrier("\(name).wait: the barrier was aborted")
            return .value(.nil)
        case "reset":
            let waiting = waiters.removeAll()
            isBroken = false
            for waiter in waiting { waiter.call.fail(broken("\(name).wait: the barrier was reset while this party waited")) }
            return .value(.nil)
        case "parties":
            return .value(.int(Int64(parties)))
        case "waitingCount":
            return .value(.int(Int64(waiters.count)))
        case "isBroken":
            return .value(.bool(isBroken))
        default:
            throw call.unknownMethod(in: "ManagerBarrier")
        }
    }

    /// Breaks the barrier: every waiter of this round fails with `brokenBarrier` saying `why`.
    private func breakBarrier(_ why: String) {
        isBroken = true
        for waiter in waiters.removeAll() { waiter.call.fail(broken(why)) }
    }

    private func broken(_ message: String) -> ManagerError { ManagerError(.brokenBarrier, message) }

    /// A party whose client ended cannot arrive: the barrier breaks, as the shared-memory
    /// ``Barrier`` breaks when a waiting party dies.
    func clientGone(_ client: UInt64) {
        guard !waiters.drop(client: client).isEmpty else { return }
        breakBarrier("\(name).wait: a waiting party's process ended")
    }

    func stop() { waiters.stop("\(name).wait") }
}
