import MessagePack
import NIOCore
import Synchronization

/// The supervisor's side of every queue, the supervisor's first service (kinds 32...47):
/// runs on the supervisor's event loop and keeps each queue's items as the bytes their
/// producers encoded; it reads envelopes and its own small payloads, never an item.
///
/// Workers reach it with queue frames (the supervisor hands them over in place, in the read
/// buffer); the parent's own code calls it on the loop (``ParentQueueTransport``). Answers to
/// workers are collected per worker and written once per loop turn (`flush`), so a read that
/// brought many puts and gets costs one write per consumer.
///
/// ```swift
/// let queues = QueueService()
/// let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [queues]))
/// let clients = QueueClients(parentOf: queues)
/// let jobs = try Queue<Int>(clients: clients)
/// try await jobs.put(1)
/// ```
final class QueueService: SupervisorService, @unchecked Sendable {   // confined to its host's loop
    /// The most put credit granted at once to a producer of a bounded queue.
    static let maxCredit = 64
    /// The most items one `get` answer carries.
    static let maxBatch = 4096

    let kinds: ClosedRange<UInt8> = UInt8(QueueWire.Kind.range.lowerBound)...UInt8(QueueWire.Kind.range.upperBound)
    var capabilities: [String] { [QueueWire.budgetCapability] }

    /// Set by ``start(host:)``, before any frame.
    private(set) var host: (any ServiceHost)?
    private(set) var loop: (any EventLoop)!
    private(set) var maxFrameSize = MessagePackLimits.defaultMaxFrameSize

    // Loop-confined state.
    private var queues: [UInt64: ServedQueue] = [:]
    private var dirty: [ServedQueue] = []
    /// What each worker is owed, written once per loop turn (QueueService+Answers.swift).
    var outbound: [UInt64: ByteBuffer] = [:]
    let allocator = ByteBufferAllocator()
    /// The queue of the previous frame: a stream of puts looks it up once.
    private var lastQueue: ServedQueue?
    private var flushScheduled = false
    private let decoder = MessagePackDecoder()
    /// The parent's own clients (peer 0), told directly of a close or a throttle.
    weak var localClients: QueueClients?

    init() {}

    func start(host: any ServiceHost) {
        self.host = host
        loop = host.loop
        maxFrameSize = host.maxFrameSize
    }

    func stop() {
        for queue in queues.values {
            for waiter in queue.getWaiters { waiter.timer?.cancel() }
            for waiter in queue.putWaiters { waiter.timer?.cancel() }
        }
        queues.removeAll()
        dirty.removeAll()
        outbound.removeAll()
        lastQueue = nil
        host = nil
    }

    // MARK: frames from workers

    /// Handles one queue frame from the worker `sender` (on the loop); the frame's body is a
    /// view of the read buffer, and an item is kept as a view of it too.
    func receive(_ frame: ServiceFrame, from sender: any ServicePeer) {
        let body = frame.body
        let peer = sender.id
        let header: QueueWire.Header
        do { header = try body.withUnsafeReadableBytes { raw throws(QueueWire.Malformed) in try QueueWire.parseHeader(raw) } } catch {
            refuse(peer, correlation: 0, RemoteError.malformedBody(FrameBodyError(.malformedEnvelope, at: 0, error.description)))
            return
        }
        guard header.source == peer else {
            refuse(peer, correlation: header.correlation, RemoteError.wrongSource(header.source, expected: peer))
            return
        }
        let payload = body.getSlice(at: body.readerIndex + header.payloadOffset, length: body.readableBytes - header.payloadOffset)!
        let answerer = QueueAnswerer(peer: peer, correlation: header.correlation, local: nil)
        do {
            switch header.kind {
            case QueueWire.Kind.open:
                let open = try decode(QueueWire.Open.self, payload)
                self.open(peer: peer, id: header.queue, maxsize: open.maxsize, joinable: open.joinable,
                          byteBudget: open.byteBudget ?? QueueHandle.defaultByteBudget)
            case QueueWire.Kind.put:
                put(peer: peer, id: header.queue, item: payload, throttleable: sender.speaks(QueueWire.budgetCapability))
            case QueueWire.Kind.putWait:
                putWait(id: header.queue, item: payload, timeout: header.timeout.map { .microseconds(Int64(clamping: $0)) }, answerer: answerer)
            case QueueWire.Kind.get:
                let get = try decode(QueueWire.Get.self, payload)
                self.get(id: header.queue, max: get.max, timeout: get.timeout.map { .microseconds(Int64(clamping: $0)) }, answerer: answerer)
            case QueueWire.Kind.report:
                let counts = try decode([Int].self, payload)
                report(peer: peer, id: header.queue, got: counts.first ?? 0, done: counts.count > 1 ? counts[1] : 0)
            case QueueWire.Kind.close:
                let shutdown = try decode(QueueWire.Shutdown?.self, payload)
                self.shutdown(peer: peer, id: header.queue, immediate: shutdown?.immediate ?? false)
            case QueueWire.Kind.status:
                status(id: header.queue, answerer: answerer)
            case QueueWire.Kind.join:
                join(id: header.queue, answerer: answerer)
            case QueueWire.Kind.cancel:
                cancel(peer: peer, id: header.queue, correlation: header.correlation)
            default:
                if header.correlation != 0 { refuse(peer, correlation: header.correlation, RemoteError.unknownKind(header.kind)) }
            }
        } catch {
            refuse(peer, correlation: header.correlation, RemoteError.malformedBody(FrameBodyError(.malformedEnvelope, at: header.payloadOffset, "\(QueueWire.Kind.name(header.kind) ?? "queue frame"): \(error)")))
        }
        scheduleFlush()
    }

    private func decode<T: Decodable>(_ type: T.Type, _ payload: ByteBuffer) throws -> T {
        try payload.withUnsafeReadableBytes { try decoder.decode(type, from: $0) }
    }

    private func refuse(_ peer: UInt64, correlation: UInt64, _ error: RemoteError) {
        appendFrame(to: peer, kind: .error, correlation: correlation) { bytes in
            bytes.packEncoded(error)
        }
        scheduleFlush()
    }

    // MARK: operations (on the loop; the parent's client calls these directly)

    private func queue(_ id: UInt64, for answerer: QueueAnswerer?) -> ServedQueue? {
        if let lastQueue, lastQueue.id == id { return lastQueue }
        if let queue = queues[id] {
            lastQueue = queue
            return queue
        }
        if let answerer {
            answer(answerer, .failure(QueueError(.invalidArgument, "queue \(id) is not open in the supervisor (a client must send queueOpen first)")))
        } else {
            RuntimeLog.warning("[supervisor] a frame for queue \(id), which is not open, was dropped", metadata: ["queue": "\(id)"])
        }
        return nil
    }

    func open(peer: UInt64, id: UInt64, maxsize: Int, joinable: Bool, byteBudget: Int) {
        let queue = queues[id] ?? {
            let queue = ServedQueue(id: id, maxsize: max(0, maxsize), joinable: joinable, byteBudget: max(1, byteBudget))
            queue.depthGauge = host?.metrics.queueDepth(id)
            queue.redeliveredCounter = host?.metrics.queueRedelivered(id)
            queues[id] = queue
            return queue
        }()
        queue.peers.insert(peer)
    }

    /// A one-way put. Past the byte budget the item is still taken (it is here), and a producer
    /// of an unbounded queue that can be told (`throttleable`, or the parent's own client) is
    /// told to send `putWait` from now on.
    func put(peer: UInt64, id: UInt64, item: ByteBuffer, throttleable: @autoclosure () -> Bool) {
        guard let queue = queue(id, for: nil) else { return }
        guard !queue.closed else {
            queue.droppedAfterClose += 1
            if queue.droppedAfterClose == 1 {
                RuntimeLog.warning("[supervisor] queue \(id) was shut down: items put after the shutdown are dropped (from worker \(peer))",
                                   metadata: ["queue": "\(id)", "peer": "\(peer)"])
            }
            notifyClosed(queue, peer: peer)
            return
        }
        if queue.maxsize > 0, let holder = queue.holders[peer], holder.credit > 0 {
            holder.credit -= 1
            queue.reservedTotal -= 1
        }
        queue.enqueue(item)
        if queue.overBudget {
            warnOverBudget(queue)
            if queue.maxsize == 0, !queue.throttled.contains(peer), throttleable() {
                queue.throttled.insert(peer)
                sendThrottle(queue, to: peer, true)
            }
        }
        markDirty(queue)
    }

    func putWait(id: UInt64, item: ByteBuffer, timeout: Duration?, answerer: QueueAnswerer) {
        guard let queue = queue(id, for: answerer) else { return }
        var waiter = ServedQueue.PutWaiter(answerer: answerer, item: item, timer: nil)
        if let timeout, timeout > .zero {
            waiter.timer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [self] in expire(id, answerer) }
        }
        queue.putWaiters.append(waiter)
        markDirty(queue)
        if timeout == .zero { serve(queue); expire(id, answerer) }
    }

    func get(id: UInt64, max: Int, timeout: Duration?, answerer: QueueAnswerer) {
        guard let queue = queue(id, for: answerer) else { return }
        var waiter = ServedQueue.GetWaiter(answerer: answerer, max: Swift.max(1, Swift.min(max, Self.maxBatch)), nowait: timeout == .zero, timer: nil)
        if let timeout, timeout > .zero {
            waiter.timer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [self] in expire(id, answerer) }
        }
        queue.getWaiters.append(waiter)
        markDirty(queue)
    }

    func report(peer: UInt64, id: UInt64, got: Int, done: Int) {
        guard let queue = queue(id, for: nil) else { return }
        queue.report(peer: peer, got: got, done: done)
        markDirty(queue)
    }

    /// Shuts the queue down for every process (Python 3.13's `Queue.shutdown`): puts are
    /// refused, gets drain what is left. `immediate` drops what is queued (not what consumers
    /// fetched ahead), counting the dropped items of a JoinableQueue as done.
    func shutdown(peer: UInt64, id: UInt64, immediate: Bool) {
        guard let queue = queue(id, for: nil) else { return }
        if immediate { queue.dropQueued() }
        guard !queue.closed else { markDirty(queue); return }
        queue.closed = true
        for other in queue.peers where other != peer { notifyClosed(queue, peer: other) }
        markDirty(queue)
    }

    func status(id: UInt64, answerer: QueueAnswerer) {
        guard let queue = queue(id, for: answerer) else { return }
        answer(answerer, .status(QueueWire.QueueStatus(count: queue.count, maxsize: queue.maxsize, closed: queue.closed,
                                                      unfinished: queue.joinable ? queue.unfinished : 0, waiting: queue.getWaiters.count)))
    }

    func join(id: UInt64, answerer: QueueAnswerer) {
        guard let queue = queue(id, for: answerer) else { return }
        guard queue.joinable else {
            answer(answerer, .failure(QueueError(.invalidArgument, "queue \(id) is not a JoinableQueue")))
            return
        }
        if queue.unfinished == 0 { answer(answerer, .join(.ok)) } else { queue.joinWaiters.append(answerer) }
    }

    /// Ends the waiting request `correlation` of `peer` with `cancelled` (if it still waits).
    func cancel(peer: UInt64, id: UInt64, correlation: UInt64) {
        guard let queue = queues[id] else { return }
        if let index = queue.getWaiters.firstIndex(where: { $0.answerer.peer == peer && $0.answerer.correlation == correlation }) {
            let waiter = queue.getWaiters.remove(at: index)
            waiter.timer?.cancel()
            answer(waiter.answerer, .get(.cancelled, []))
        } else if let index = queue.putWaiters.firstIndex(where: { $0.answerer.peer == peer && $0.answerer.correlation == correlation }) {
            let waiter = queue.putWaiters.remove(at: index)
            waiter.timer?.cancel()
            answer(waiter.answerer, .put(.cancelled, credit: 0))
        } else if let index = queue.joinWaiters.firstIndex(where: { $0.peer == peer && $0.correlation == correlation }) {
            answer(queue.joinWaiters.remove(at: index), .join(.cancelled))
        }
    }

    /// A timed request ran out: `get` answers `timedOut` (Empty), `putWait` `timedOut` (Full).
    private func expire(_ id: UInt64, _ answerer: QueueAnswerer) {
        guard let queue = queues[id] else { return }
        if let index = queue.getWaiters.firstIndex(where: { $0.answerer.peer == answerer.peer && $0.answerer.correlation == answerer.correlation }) {
            answer(queue.getWaiters.remove(at: index).answerer, .get(.timedOut, []))
        } else if let index = queue.putWaiters.firstIndex(where: { $0.answerer.peer == answerer.peer && $0.answerer.correlation == answerer.correlation }) {
            let waiter = queue.putWaiters.remove(at: index)
            waiter.timer?.cancel()
            answer(waiter.answerer, .put(.timedOut, credit: 0))
        }
        scheduleFlush()
    }

    /// The worker `peer` ended (its channel is read to the end): what it held returns to the
    /// front of each queue, its waiting requests are dropped.
    func peerGone(_ peer: UInt64) {
        for queue in queues.values {
            queue.release(peer: peer)
            for waiter in queue.getWaiters where waiter.answerer.peer == peer { waiter.timer?.cancel() }
            for waiter in queue.putWaiters where waiter.answerer.peer == peer { waiter.timer?.cancel() }
            queue.getWaiters.removeAll { $0.answerer.peer == peer }
            queue.putWaiters.removeAll { $0.answerer.peer == peer }
            queue.joinWaiters.removeAll { $0.peer == peer }
            markDirty(queue)
        }
        outbound.removeValue(forKey: peer)
        scheduleFlush()
    }

    // MARK: serving

    private func markDirty(_ queue: ServedQueue) {
        if !queue.isDirty {
            queue.isDirty = true
            dirty.append(queue)
        }
        scheduleFlush()
    }

    private func scheduleFlush() {
        guard !flushScheduled, let host else { return }
        flushScheduled = true
        host.scheduleFlush(self)
    }

    /// Serves every queue that changed, then writes what each worker is owed, one buffer per
    /// worker (after a read: so answers to many frames leave in one write).
    func flush() {
        flushScheduled = false
        while !dirty.isEmpty {
            let queues = dirty
            dirty.removeAll(keepingCapacity: true)
            for queue in queues {
                queue.isDirty = false
                serve(queue)
                queue.depthGauge?.record(queue.count)
            }
        }
        for (peer, bytes) in outbound where bytes.readableBytes > 0 {
            host?.write(bytes, to: peer)
        }
        outbound.removeAll(keepingCapacity: true)
    }

    /// Moves what can move: blocked producers into the room there is, items to waiting
    /// consumers (round-robin, one item each per turn), and answers what is decided.
    private func serve(_ queue: ServedQueue) {
        if queue.closed {
            for waiter in queue.putWaiters {
                waiter.timer?.cancel()
                answer(waiter.answerer, .put(.closed, credit: 0))
            }
            queue.putWaiters.removeAll()
        }
        while !queue.putWaiters.isEmpty, queue.room > 0 {
            let waiter = queue.putWaiters.removeFirst()
            waiter.timer?.cancel()
            queue.enqueue(waiter.item)
            var grant = 0
            if queue.maxsize > 0, waiter.answerer.local == nil {
                grant = min(Self.maxCredit, max(0, queue.room) / 4)
                queue.holder(waiter.answerer.peer).credit += grant
                queue.reservedTotal += grant
            }
            answer(waiter.answerer, .put(.ok, credit: grant))
        }
        if !queue.items.isEmpty, !queue.getWaiters.isEmpty { deliver(queue) }
        if queue.overBudget, !queue.putWaiters.isEmpty { warnOverBudget(queue) }
        if !queue.throttled.isEmpty, queue.belowLowMark || queue.closed {
            for peer in queue.throttled { sendThrottle(queue, to: peer, false) }
            queue.throttled.removeAll()
        }
        if queue.closed, queue.items.isEmpty, !queue.getWaiters.isEmpty {
            var waiting: [ServedQueue.GetWaiter] = []
            for waiter in queue.getWaiters {
                if queue.heldByOthers(than: waiter.answerer.peer) == 0 {
                    waiter.timer?.cancel()
                    answer(waiter.answerer, .get(.closed, []))
                } else {
                    waiting.append(waiter)
                }
            }
            queue.getWaiters = waiting
        }
        if queue.getWaiters.contains(where: \.nowait) {
            for waiter in queue.getWaiters where waiter.nowait { answer(waiter.answerer, .get(.timedOut, [])) }
            queue.getWaiters.removeAll { $0.nowait }
        }
        if queue.joinable, queue.unfinished == 0, !queue.joinWaiters.isEmpty {
            for answerer in queue.joinWaiters { answer(answerer, .join(.ok)) }
            queue.joinWaiters.removeAll()
        }
    }

    /// Hands queued items to the waiting consumers in turn, one item each per round, each up
    /// to the count it asked for and the frame size.
    private func deliver(_ queue: ServedQueue) {
        let waiters = queue.getWaiters
        let limit = maxFrameSize - QueueWire.itemOverhead
        var batches = [[ByteBuffer]](repeating: [], count: waiters.count)
        var sizes = [Int](repeating: 0, count: waiters.count)
        var progress = true
        while progress, !queue.items.isEmpty {
            progress = false
            for index in waiters.indices {
                guard let next = queue.items.first else { break }
                if batches[index].count < waiters[index].max, sizes[index] + next.readableBytes <= limit {
                    batches[index].append(queue.items.popFirst()!)
                    sizes[index] += next.readableBytes
                    progress = true
                }
            }
        }
        var waiting: [ServedQueue.GetWaiter] = []
        for (index, waiter) in waiters.enumerated() {
            let batch = batches[index]
            guard !batch.isEmpty else { waiting.append(waiter); continue }
            waiter.timer?.cancel()
            queue.holder(waiter.answerer.peer).inflight.append(contentsOf: batch)
            queue.inflightTotal += batch.count
            answerItems(waiter.answerer, batch)
        }
        queue.getWaiters = waiting
    }

    /// Tells `peer` that `queue` was closed (its puts fail from then on).
    private func notifyClosed(_ queue: ServedQueue, peer: UInt64) {
        if peer == Envelope.supervisor {
            localClients?.markClosed(queue.id)
            return
        }
        appendFrame(to: peer, kind: QueueWire.Kind.closed, correlation: 0) { $0.packUInt(queue.id) }
    }
}
