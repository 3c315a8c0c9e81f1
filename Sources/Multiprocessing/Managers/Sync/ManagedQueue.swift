import NIOCore

/// A manager-hosted `queue` (Python's `Manager().Queue(maxsize)` / `JoinableQueue`: a
/// `queue.Queue` in the manager): items are msgpack values, first in first out; the proxy is
/// ``ManagerQueue``. Create arguments: `[maxsize: int or nil (0: unbounded)]`.
///
/// Methods: `put [item, timeout]` (waits while full; `full` when the timeout passes first),
/// `get [timeout]` (waits while empty; `empty` when the timeout passes first), `qsize`, `empty`,
/// `full`, `taskDone` (`invalidArgument` when called more times than items were put), `join
/// [timeout]` (until every item put was marked done; `timedOut`), `unfinished`. A waiting put's
/// item is dropped when its client ends.
final class ManagedQueue: ManagedObject {
    /// "queue 8", for messages.
    let name: String
    let maxsize: Int
    private var items = CircularBuffer<MessagePackValue>()
    /// Items put and not yet marked done.
    private(set) var unfinished = 0
    private let getters = ManagerWaitList<Void>()
    private let putters = ManagerWaitList<MessagePackValue>()
    private let joiners = ManagerWaitList<Void>()

    init(_ call: ManagerCall) throws(ManagerError) {
        name = call.objectName
        let maxsize = try call.optionalArgument(0, as: Int.self) ?? 0
        guard maxsize >= 0 else { throw ManagerError(.invalidArgument, "\(call.objectName): the maxsize \(maxsize) is negative") }
        self.maxsize = maxsize
    }

    private var isFull: Bool { maxsize > 0 && items.count >= maxsize }

    /// Gets waiting for an item now (tests look, on the loop).
    var waitingGets: Int { getters.count }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "put":
            let item = try call.argument(0, as: MessagePackValue.self)
            let timeout = try call.timeoutArgument(1)
            if !isFull, putters.isEmpty {
                admit(item)
                return .value(.nil)
            }
            if ManagerCall.isNoWait(timeout) { throw full() }
            putters.enqueue(call, item, timeout: timeout, onTimeout: { [self] in $0.call.fail(full()) })
            return .later
        case "get":
            let timeout = try call.timeoutArgument(0)
            if let item = items.popFirst() {
                admitWaitingPuts()
                return .value(item)
            }
            if ManagerCall.isNoWait(timeout) { throw empty() }
            getters.enqueue(call, (), timeout: timeout, onTimeout: { [self] in $0.call.fail(empty()) })
            return .later
        case "qsize":
            return .value(.int(Int64(items.count)))
        case "empty":
            return .value(.bool(items.isEmpty))
        case "full":
            return .value(.bool(isFull))
        case "unfinished":
            return .value(.int(Int64(unfinished)))
        case "taskDone":
            guard unfinished > 0 else {
                throw ManagerError(.invalidArgument, "\(name).taskDone: called more times than items were put")
            }
            unfinished -= 1
            if unfinished == 0 {
                for joiner in joiners.removeAll() { joiner.call.answer(.nil) }
            }
            return .value(.nil)
        case "join":
            let timeout = try call.timeoutArgument(0)
            if unfinished == 0 { return .value(.nil) }
            if ManagerCall.isNoWait(timeout) { throw joinTimedOut() }
            joiners.enqueue(call, (), timeout: timeout, onTimeout: { [self] in $0.call.fail(joinTimedOut()) })
            return .later
        default:
            throw call.unknownMethod(in: "ManagerQueue")
        }
    }

    /// Puts `item` in: straight to the oldest waiting get, else at the end.
    private func admit(_ item: MessagePackValue) {
        unfinished += 1
        if let getter = getters.popFirst() {
            getter.call.answer(item)
        } else {
            items.append(item)
        }
    }

    /// Lets waiting puts in while there is room.
    private func admitWaitingPuts() {
        while !isFull, let putter = putters.popFirst() {
            admit(putter.detail)
            putter.call.answer(.nil)
        }
    }

    private func full() -> ManagerError {
        ManagerError(.full, "\(name).put: the queue stayed full (maxsize \(maxsize)) until the timeout")
    }

    private func empty() -> ManagerError {
        ManagerError(.empty, "\(name).get: no item came before the timeout")
    }

    private func joinTimedOut() -> ManagerError {
        ManagerError(.timedOut, "\(name).join: items put were still not all marked done at the timeout")
    }

    func clientGone(_ client: UInt64) {
        getters.drop(client: client)
        putters.drop(client: client)
        joiners.drop(client: client)
    }

    func stop() {
        getters.stop("\(name).get")
        putters.stop("\(name).put")
        joiners.stop("\(name).join")
    }
}
