import CoreMetrics
import NIOCore

/// A first-in first-out list with O(1) appends and pops, and an O(n) push to the front (only
/// when a consumer dies and its items go back).
struct FIFO<Element> {
    private var storage: [Element?] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }
    var first: Element? { isEmpty ? nil : storage[head] }

    mutating func append(_ element: Element) { storage.append(element) }

    mutating func append(contentsOf elements: some Sequence<Element>) {
        for element in elements { storage.append(element) }
    }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        storage[head] = nil
        head += 1
        if head == storage.count {
            // Empty: a list that grew past a few thousand items gives its storage back.
            storage.removeAll(keepingCapacity: storage.capacity <= 4096)
            head = 0
        } else if head >= 1024, head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Puts `elements` in front, in their order.
    mutating func prepend(contentsOf elements: [Element]) {
        guard !elements.isEmpty else { return }
        storage = elements.map(Optional.some) + storage[head...]
        head = 0
    }

    /// Removes and returns every element, in order.
    mutating func removeAll() -> [Element] {
        let all = storage[head...].map { $0! }
        storage.removeAll()
        head = 0
        return all
    }
}

/// Who gets an answer: a worker (a frame with the request's correlation) or the parent's own
/// client (a closure called on the loop).
struct QueueAnswerer {
    var peer: UInt64
    var correlation: UInt64
    var local: (@Sendable (QueueAnswer) -> Void)?
}

/// An answer of the queue server to a request.
enum QueueAnswer: Sendable {
    case get(QueueWire.Status, [ArraySlice<UInt8>])
    case put(QueueWire.Status, credit: Int)
    case join(QueueWire.Status)
    case status(QueueWire.QueueStatus)
    case failure(QueueError)
}

/// One queue as the supervisor holds it (on its event loop). Items are the bytes their producer
/// encoded, never decoded here: views of the buffer they were read into (no copy), except
/// JoinableQueue items a consumer's code got, and items that arrive while the queue holds more
/// than an eighth of its byte budget and view a read buffer four times their size or more: those
/// are copied out, so that a queue holding a few items does not keep many whole read buffers
/// alive.
final class ServedQueue {
    /// `mp_queue_depth` of this queue (set by the service that made it).
    var depthGauge: Gauge?
    /// Counts the items delivered again because the process that had them ended (`mp_queue_redelivered`).
    var redeliveredCounter: Counter?
    let id: UInt64
    let maxsize: Int
    let joinable: Bool
    /// Bytes of items held (queued, delivered ahead of a consumer's code, got and not marked
    /// done) past which puts wait.
    let byteBudget: Int

    /// Bytes of the items held, as counted against ``byteBudget``.
    private(set) var bytes = 0
    /// Producers told to send `putWait` (the queue went past its budget while they put one-way).
    var throttled: Set<UInt64> = []
    /// Whether the budget warning was written (once per queue).
    var warnedOverBudget = false

    var overBudget: Bool { bytes >= byteBudget }
    /// Held bytes at or below which throttled producers may put one-way again.
    var belowLowMark: Bool { bytes <= byteBudget / 2 }

    /// Adds `item` at the end, copying it out of its read buffer when the queue is holding and
    /// the item would pin a buffer much larger than itself.
    func enqueue(_ item: ByteBuffer) {
        var kept = item
        if bytes > byteBudget / 8, item.storageCapacity >= 4 * max(item.readableBytes, 256) {
            kept = Self.allocator.buffer(buffer: item)
        }
        bytes += item.readableBytes
        items.append(kept)
        if joinable { unfinished += 1 }
    }

    /// Drops every queued item (`shutdown(immediate: true)`), giving back its bytes; on a
    /// JoinableQueue each counts as done.
    func dropQueued() {
        let dropped = items.removeAll()
        for item in dropped { bytes -= item.readableBytes }
        if joinable { unfinished -= dropped.count }
    }

    /// Items waiting for a consumer, oldest first.
    var items = FIFO<ByteBuffer>()
    var closed = false
    /// What each process holds: items delivered ahead of its code (`inflight`), items its code
    /// got and has not marked done (`unfinished`, JoinableQueue), room granted for puts (`credit`).
    var holders: [UInt64: Holder] = [:]
    var inflightTotal = 0
    var heldUnfinishedTotal = 0
    var reservedTotal = 0
    /// Items put and not yet marked done (JoinableQueue).
    var unfinished = 0
    var getWaiters: [GetWaiter] = []
    var putWaiters: [PutWaiter] = []
    var joinWaiters: [QueueAnswerer] = []
    /// Processes that opened the queue: told when it closes.
    var peers: Set<UInt64> = []
    /// Items that arrived after the shutdown and were dropped (the first one logged).
    var droppedAfterClose = 0

    /// A class, so that updating one in the table never copies its lists.
    final class Holder {
        var inflight = FIFO<ByteBuffer>()
        var unfinished = FIFO<ByteBuffer>()
        var credit = 0
    }

    /// What `peer` holds, made on first use.
    func holder(_ peer: UInt64) -> Holder {
        if let holder = holders[peer] { return holder }
        let holder = Holder()
        holders[peer] = holder
        return holder
    }

    /// Whether the server has it on its list of queues to serve.
    var isDirty = false

    struct GetWaiter {
        var answerer: QueueAnswerer
        var max: Int
        var nowait: Bool
        var timer: Scheduled<Void>?
    }

    struct PutWaiter {
        var answerer: QueueAnswerer
        var item: ByteBuffer
        var timer: Scheduled<Void>?
    }

    private static let allocator = ByteBufferAllocator()

    init(id: UInt64, maxsize: Int, joinable: Bool, byteBudget: Int) {
        self.id = id
        self.maxsize = maxsize
        self.joinable = joinable
        self.byteBudget = byteBudget
    }

    /// Python's `qsize()`: items not yet returned by a get, prefetched ones included.
    var count: Int { items.count + inflightTotal }

    /// How many more items may be put now (`Int.max` when unbounded; 0 past the byte budget).
    var room: Int {
        if overBudget { return 0 }
        return maxsize == 0 ? .max : maxsize - count - reservedTotal
    }

    /// Items held by processes other than `peer` that could still come back to the queue.
    func heldByOthers(than peer: UInt64) -> Int {
        let mine = holders[peer]
        var held = inflightTotal - (mine?.inflight.count ?? 0)
        if joinable { held += heldUnfinishedTotal - (mine?.unfinished.count ?? 0) }
        return held
    }

    /// `peer`'s code got `got` more of the items delivered to it and finished `done` tasks.
    func report(peer: UInt64, got: Int, done: Int) {
        guard let holder = holders[peer] else { return }
        let taken = min(max(got, 0), holder.inflight.count)
        for _ in 0..<taken {
            let item = holder.inflight.popFirst()!
            if joinable { holder.unfinished.append(Self.allocator.buffer(buffer: item)) } else { bytes -= item.readableBytes }
        }
        inflightTotal -= taken
        if joinable {
            heldUnfinishedTotal += taken
            let finished = min(max(done, 0), holder.unfinished.count)
            for _ in 0..<finished { bytes -= holder.unfinished.popFirst()!.readableBytes }
            heldUnfinishedTotal -= finished
            unfinished -= finished
        }
    }

    /// `peer` is gone: what it held and its code had not finished goes back to the front, in
    /// delivery order (JoinableQueue: items its code got but did not mark done, first).
    func release(peer: UInt64) {
        peers.remove(peer)
        throttled.remove(peer)
        guard let holder = holders.removeValue(forKey: peer) else { return }
        let unfinishedItems = joinable ? holder.unfinished.removeAll() : []
        let inflightItems = holder.inflight.removeAll()
        inflightTotal -= inflightItems.count
        heldUnfinishedTotal -= joinable ? unfinishedItems.count : 0
        reservedTotal -= holder.credit
        items.prepend(contentsOf: unfinishedItems + inflightItems)
        if !unfinishedItems.isEmpty || !inflightItems.isEmpty {
            redeliveredCounter?.increment(by: unfinishedItems.count + inflightItems.count)
        }
    }
}
