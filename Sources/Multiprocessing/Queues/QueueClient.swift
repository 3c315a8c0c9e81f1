import MessagePack
import Synchronization

/// This process's side of one queue: items fetched ahead of the code (prefetch), the code's
/// waiting gets, put credit for a bounded queue, and the counts of items got and tasks done
/// that the supervisor has not heard of yet.
///
/// Gets are pulled in batches: a get that finds nothing here sends one `get` for up to
/// `window` items and waits; the window doubles each time the code had to wait (up to 256),
/// so a loop of gets soon costs one round trip per batch, while a single get takes one item.
/// When the code has used half of a batch, the next one is asked for without waiting
/// (credit-based prefetch, as AMQP's basic.qos). At most one `get` is outstanding; its answer
/// goes to the code's waiters in order and the rest stays here, so a cancelled or timed-out
/// get loses nothing.
final class QueueClient: Sendable {
    let handle: QueueHandle
    let transport: any QueueTransport
    private let state = Mutex(State())

    /// The largest prefetch window.
    static let maxWindow = 1024

    private struct State {
        var buffer = FIFO<ArraySlice<UInt8>>()
        var waiters: [Waiter] = []
        /// The outstanding `get`'s correlation (0: none), its deadline (nil: none) and whether a
        /// cancel was sent. Plain fields, not an optional struct: this is read on every get,
        /// and an optional holding an optional `Instant` went through generic enum-tag calls.
        var fetchCorrelation: UInt64 = 0
        var fetchDeadline: ContinuousClock.Instant?
        var fetchCancelling = false
        var window = 1
        /// The supervisor said the queue is closed and nothing more can come.
        var drained = false
        /// Shut down here, or the supervisor said another process shut it down: puts throw
        /// ``QueueError/Code/shutDown``.
        var closed = false
        /// This process closed its handle (`close()`): its puts and gets throw ``QueueError/Code/closed``.
        var closedHere = false
        /// A `shutdown(immediate: true)` was sent from here.
        var shutDownImmediately = false
        var credit = 0
        /// The supervisor holds the queue past its byte budget: puts wait (`putWait`).
        var throttled = false
        var unreportedGot = 0
        var unreportedDone = 0
        /// Items this process's code got and has not marked done (JoinableQueue).
        var unfinishedHere = 0
        var tokens: UInt64 = 0
    }

    private struct Waiter {
        var token: UInt64
        var deadline: ContinuousClock.Instant?
        var continuation: CheckedContinuation<ArraySlice<UInt8>, any Error>
    }

    private enum PutMode { case closed, closedHere, oneWay, wait }

    private enum Action {
        case fetch(UInt64, max: Int, timeout: Duration?)
        case cancel(UInt64)
    }

    init(handle: QueueHandle, transport: any QueueTransport) {
        self.handle = handle
        self.transport = transport
        self.putEnvelope = transport.putEnvelope(for: handle)
    }

    /// The envelope of this process's one-way puts, made once (a put then allocates nothing for it).
    private let putEnvelope: MessagePackValue?

    /// The queue was shut down (status `closed` on the wire): puts fail, and gets once it is drained.
    private var closedError: QueueError { QueueError(.shutDown, "queue \(handle.id) was shut down") }

    /// This process closed its handle: Python's `ValueError` for a put or get after `close()`.
    private var closedHereError: QueueError {
        QueueError(.closed, "queue \(handle.id) was closed in this process (close()): it can put and get no more here")
    }

    // MARK: get

    /// The next item if one is here (the fast path: no await, no frame unless it is time to
    /// prefetch); nil if the caller must wait (``waitForItem(timeout:)``).
    func tryGet() throws -> ArraySlice<UInt8>? {
        var prefetch: (correlation: UInt64, max: Int) = (0, 0)
        var drained = false
        var closedHere = false
        let item = state.withLock { s -> ArraySlice<UInt8>? in
            if s.closedHere { closedHere = true; return nil }
            guard let item = s.buffer.popFirst() else {
                drained = s.drained
                return nil
            }
            took(&s)
            // With half a window used, the next batch is asked for without waiting.
            if s.fetchCorrelation == 0, s.window > 1, s.buffer.count <= s.window / 2, !s.drained, s.waiters.isEmpty {
                s.fetchCorrelation = transport.nextCorrelation()
                s.fetchDeadline = .now
                s.fetchCancelling = false
                prefetch = (s.fetchCorrelation, s.window - s.buffer.count)
            }
            return item
        }
        guard let item else {
            if closedHere { throw closedHereError }
            if drained { throw closedError }
            return nil
        }
        if prefetch.correlation != 0 { perform([.fetch(prefetch.correlation, max: prefetch.max, timeout: .zero)]) }
        transport.reportsChanged(self)
        return item
    }

    func get(timeout: Duration?) async throws -> ArraySlice<UInt8> {
        if let item = try tryGet() { return item }
        return try await waitForItem(timeout: Self.normalized(timeout))
    }

    /// Waits for the next item: asks the supervisor (or joins the outstanding ask).
    func waitForItem(timeout: Duration?) async throws -> ArraySlice<UInt8> {
        let token = state.withLock { s -> UInt64 in s.tokens += 1; return s.tokens }
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        let item = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ArraySlice<UInt8>, any Error>) in
                let actions = state.withLock { s -> [Action] in
                    if let item = s.buffer.popFirst() {
                        took(&s)
                        continuation.resume(returning: item)
                        return []
                    }
                    if s.closedHere { continuation.resume(throwing: closedHereError); return [] }
                    if s.drained { continuation.resume(throwing: closedError); return [] }
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()); return [] }
                    s.waiters.append(Waiter(token: token, deadline: deadline, continuation: continuation))
                    let actions = plan(&s)
                    // The code waited: fetch more next time (a single get still takes one item).
                    s.window = min(s.window * 2, Self.maxWindow)
                    return actions
                }
                perform(actions)
            }
        } onCancel: {
            cancelWaiter(token)
        }
        transport.reportsChanged(self)
        return item
    }

    private func took(_ s: inout State) {
        s.unreportedGot += 1
        if handle.joinable { s.unfinishedHere += 1 }
    }

    /// The `get` the waiters need: none if one is outstanding (unless a waiter's deadline comes
    /// before it ends: then it is cancelled and asked again), else one that waits until the
    /// earliest deadline.
    private func plan(_ s: inout State) -> [Action] {
        guard !s.waiters.isEmpty else { return [] }
        let earliest = s.waiters.compactMap(\.deadline).min()
        if s.fetchCorrelation != 0 {
            if !s.fetchCancelling, let earliest, s.fetchDeadline.map({ earliest < $0 }) ?? true {
                s.fetchCancelling = true
                return [.cancel(s.fetchCorrelation)]
            }
            return []
        }
        let correlation = transport.nextCorrelation()
        s.fetchCorrelation = correlation
        s.fetchDeadline = earliest
        s.fetchCancelling = false
        let timeout = earliest.map { max(.zero, ContinuousClock.now.duration(to: $0)) }
        return [.fetch(correlation, max: max(s.window, s.waiters.count), timeout: timeout)]
    }

    private func perform(_ actions: [Action]) {
        for action in actions {
            switch action {
            case .fetch(let correlation, let max, let timeout):
                transport.request(handle, .get(max: max, timeout: timeout), correlation: correlation) { [self] answer in
                    fetched(correlation, answer)
                }
            case .cancel(let correlation):
                transport.cancel(handle, correlation: correlation)
            }
        }
    }

    /// A `get` answer: items to the waiters in order, the rest kept; what is decided answered.
    private func fetched(_ correlation: UInt64, _ answer: QueueAnswer) {
        var resumes: [(CheckedContinuation<ArraySlice<UInt8>, any Error>, Result<ArraySlice<UInt8>, any Error>)] = []
        let actions = state.withLock { s -> [Action] in
            if s.fetchCorrelation == correlation { s.fetchCorrelation = 0 }
            var failure: (any Error)?
            switch answer {
            case .get(let status, let items):
                s.buffer.append(contentsOf: items)
                if status == .closed { s.drained = true; s.closed = true }
            case .failure(let error):
                failure = error
            default:
                failure = QueueError(.disconnected, "queue \(handle.id): the supervisor answered a get with \(answer)")
            }
            while !s.waiters.isEmpty, let item = s.buffer.popFirst() {
                took(&s)
                resumes.append((s.waiters.removeFirst().continuation, .success(item)))
            }
            if let failure {
                for waiter in s.waiters { resumes.append((waiter.continuation, .failure(failure))) }
                s.waiters.removeAll()
                return []
            }
            if s.drained {
                for waiter in s.waiters { resumes.append((waiter.continuation, .failure(closedError))) }
                s.waiters.removeAll()
            }
            let now = ContinuousClock.now
            s.waiters.removeAll { waiter in
                guard let deadline = waiter.deadline, deadline <= now else { return false }
                resumes.append((waiter.continuation, .failure(QueueError(.empty, "queue \(handle.id): no item came in time"))))
                return true
            }
            return plan(&s)
        }
        for (continuation, result) in resumes { continuation.resume(with: result) }
        perform(actions)
    }

    private func cancelWaiter(_ token: UInt64) {
        let (continuation, actions) = state.withLock { s -> (CheckedContinuation<ArraySlice<UInt8>, any Error>?, [Action]) in
            guard let index = s.waiters.firstIndex(where: { $0.token == token }) else { return (nil, []) }
            let waiter = s.waiters.remove(at: index)
            var actions: [Action] = []
            // Nobody waits any more: end the outstanding get, so what it would bring is not
            // held here while the code does not ask for it.
            if s.waiters.isEmpty, s.fetchCorrelation != 0, !s.fetchCancelling, s.fetchDeadline.map({ $0 > .now }) ?? true {
                s.fetchCancelling = true
                actions.append(.cancel(s.fetchCorrelation))
            }
            return (waiter.continuation, actions)
        }
        continuation?.resume(throwing: CancellationError())
        perform(actions)
    }

    // MARK: put

    /// Puts without waiting when it can (unbounded queue, or put credit left): true if done.
    func tryPut<Item: Encodable>(_ item: Item) throws -> Bool {
        let mode = state.withLock { s -> PutMode in
            if s.closedHere { return .closedHere }
            if s.closed { return .closed }
            if handle.maxsize == 0 { return s.throttled ? .wait : .oneWay }
            if s.credit > 0 { s.credit -= 1; return .oneWay }
            return .wait
        }
        switch mode {
        case .closed: throw closedError
        case .closedHere: throw closedHereError
        case .oneWay:
            do {
                try transport.put(handle, item, envelope: putEnvelope)
            } catch {
                if handle.maxsize > 0 { state.withLock { $0.credit += 1 } }   // the credit was not used
                throw error
            }
            return true
        case .wait: return false
        }
    }

    /// A put that waits for room in the supervisor (a bounded queue without credit here).
    func putWaiting(_ item: [UInt8], timeout: Duration?) async throws {
        try Self.checkSize(item, of: handle, limit: transport.maxItemSize)
        switch try await cancellableRequest(.putWait(item: item, timeout: timeout)) {
        case .put(.ok, let credit):
            if credit > 0 { state.withLock { $0.credit += credit } }
        case .put(.timedOut, _):
            let bound = handle.maxsize > 0 ? "maxsize \(handle.maxsize), byte budget \(handle.byteBudget)" : "past its byte budget of \(handle.byteBudget) bytes"
            throw QueueError(.full, "queue \(handle.id) stayed full (\(bound))\(timeout == .zero ? "" : " until the timeout")")
        case .put(.closed, _):
            markClosed()
            throw closedError
        case .put(.cancelled, _):
            throw CancellationError()
        case .failure(let error):
            throw error
        default:
            throw QueueError(.disconnected, "queue \(handle.id): unexpected answer to a put")
        }
    }

    /// A put that never waits: on an unbounded queue (SimpleQueue).
    func putUnbounded<Item: Encodable>(_ item: Item) throws {
        let (closedHere, closed, throttled) = state.withLock { ($0.closedHere, $0.closed, $0.throttled) }
        if closedHere { throw closedHereError }
        if closed { throw closedError }
        if throttled {
            throw QueueError(.full, "queue \(handle.id) is past its byte budget of \(handle.byteBudget) bytes: the supervisor takes no more until consumers take items")
        }
        try transport.put(handle, item, envelope: putEnvelope)
    }

    static func checkSize(_ item: [UInt8], of handle: QueueHandle, limit: Int) throws {
        guard item.count <= limit else {
            throw QueueError(.itemTooLarge, "queue \(handle.id): the item encodes to \(item.count) bytes, above the largest item of \(limit) bytes (the maximum frame less \(QueueWire.itemOverhead))")
        }
    }

    /// A negative timeout means zero (do not wait), as in Python's `multiprocessing` queues.
    @inline(__always)
    static func normalized(_ timeout: Duration?) -> Duration? {
        guard let timeout, timeout < .zero else { return timeout }
        return .zero
    }

    // MARK: everything else

    /// A request whose answer is awaited; task cancellation sends `cancel` and the answer then
    /// says whether it still took effect.
    private func cancellableRequest(_ request: QueueRequest) async throws -> QueueAnswer {
        if Task.isCancelled { throw CancellationError() }
        let correlation = transport.nextCorrelation()
        let phase = Mutex<(sent: Bool, cancelled: Bool)>((false, false))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<QueueAnswer, Never>) in
                let cancelled = phase.withLock { phase -> Bool in phase.sent = true; return phase.cancelled }
                if cancelled, case .putWait = request { continuation.resume(returning: .put(.cancelled, credit: 0)); return }
                if cancelled, case .join = request { continuation.resume(returning: .join(.cancelled)); return }
                transport.request(handle, request, correlation: correlation) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            let sent = phase.withLock { phase -> Bool in phase.cancelled = true; return phase.sent }
            if sent { transport.cancel(handle, correlation: correlation) }
        }
    }

    func status() async throws -> QueueWire.QueueStatus {
        switch try await cancellableRequest(.status) {
        case .status(let status): return status
        case .failure(let error): throw error
        default: throw QueueError(.disconnected, "queue \(handle.id): unexpected answer to a status request")
        }
    }

    func join() async throws {
        switch try await cancellableRequest(.join) {
        case .join(.ok): return
        case .join(.cancelled): throw CancellationError()
        case .failure(let error): throw error
        default: throw QueueError(.disconnected, "queue \(handle.id): unexpected answer to a join")
        }
    }

    /// Python's `close()`: this process puts and gets no more through the queue; its waiting
    /// gets end with ``QueueError/Code/closed`` and its outstanding `get` is cancelled. The
    /// supervisor is not told: other processes go on as before, and what this process fetched
    /// ahead stays held by it until it ends (then it goes back to the front of the queue).
    func closeHere() {
        let (waiters, actions) = state.withLock { s -> ([Waiter], [Action]) in
            guard !s.closedHere else { return ([], []) }
            s.closedHere = true
            let waiters = s.waiters
            s.waiters.removeAll()
            guard s.fetchCorrelation != 0, !s.fetchCancelling else { return (waiters, []) }
            s.fetchCancelling = true
            return (waiters, [.cancel(s.fetchCorrelation)])
        }
        for waiter in waiters { waiter.continuation.resume(throwing: closedHereError) }
        perform(actions)
    }

    /// Shuts the queue down for every process (Python 3.13's `Queue.shutdown`); `immediate`
    /// also drops what is queued in the supervisor. Sent once, and again for a later `immediate`.
    func shutdown(immediate: Bool) {
        let send = state.withLock { s -> Bool in
            defer { s.closed = true; if immediate { s.shutDownImmediately = true } }
            return !s.closed || (immediate && !s.shutDownImmediately)
        }
        if send { transport.shutdown(handle, immediate: immediate) }
    }

    func markClosed() { state.withLock { $0.closed = true } }

    func setThrottled(_ throttled: Bool) { state.withLock { $0.throttled = throttled } }

    func taskDone() throws {
        try state.withLock { s in
            guard s.unfinishedHere > 0 else {
                throw QueueError(.taskDoneTooManyTimes, "queue \(handle.id): taskDone() called more times than this process got items")
            }
            s.unfinishedHere -= 1
            s.unreportedDone += 1
        }
        transport.reportsChanged(self)
    }

    /// The counts the supervisor has not heard of yet, reset.
    func takeReports() -> (got: Int, done: Int) {
        state.withLock { s in
            defer { s.unreportedGot = 0; s.unreportedDone = 0 }
            return (s.unreportedGot, s.unreportedDone)
        }
    }
}

/// A request of a client to the queue server.
enum QueueRequest: Sendable {
    case putWait(item: [UInt8], timeout: Duration?)
    case get(max: Int, timeout: Duration?)
    case status
    case join
}
