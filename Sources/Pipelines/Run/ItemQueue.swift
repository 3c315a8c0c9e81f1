import MessagePack

/// One item on its way through a pipeline: the values one source item has become so far, with
/// the source item's number. In a pipeline each value travels on its own (`values` holds one);
/// `mpctl exec` keeps the outputs of one input together, so its sink can put them in input order.
struct PipelineItem: Sendable {
    /// The source item's number, from 0.
    var sequence: UInt64
    var values: [MessagePackValue]
}

/// A named queue between the source, the stages and the sink: first in, first out, with a
/// maximum size whose producers wait (Python's `Queue(maxsize)`; 0: unbounded). It closes when
/// its last producer has finished and it is empty; ``abort()`` ends it at once (a failure or an
/// interrupt), waking everyone.
actor ItemQueue {
    let name: String
    let maxsize: Int
    private var items: [PipelineItem] = []
    private var head = 0
    private var producers: Int
    private var aborted = false
    private var getters: [(id: UInt64, continuation: CheckedContinuation<PipelineItem?, Never>)] = []
    private var nextGetter: UInt64 = 0
    private var putters: [CheckedContinuation<Void, Never>] = []
    /// Items put and taken, for the live view.
    private(set) var putCount = 0
    private(set) var takenCount = 0

    /// `producers`: how many writers must call ``producerFinished()`` before the queue ends.
    init(name: String, maxsize: Int, producers: Int) {
        self.name = name
        self.maxsize = maxsize
        self.producers = producers
    }

    var depth: Int { items.count - head }

    /// Puts `item`, waiting while the queue is full; false once the queue was aborted (the
    /// item is dropped: the pipeline is stopping).
    @discardableResult
    func put(_ item: PipelineItem) async -> Bool {
        while maxsize > 0, depth >= maxsize, !aborted {
            await withCheckedContinuation { putters.append($0) }
        }
        guard !aborted else { return false }
        putCount += 1
        if !getters.isEmpty {
            takenCount += 1
            getters.removeFirst().continuation.resume(returning: item)
            return true
        }
        items.append(item)
        return true
    }

    /// The next item, waiting for one; nil once the queue has ended (every producer finished
    /// and it is empty) or was aborted.
    func get() async -> PipelineItem? {
        if head < items.count {
            let item = items[head]
            head += 1
            if head > 1024, head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            takenCount += 1
            if !putters.isEmpty { putters.removeFirst().resume() }
            return item
        }
        if producers <= 0 || aborted || Task.isCancelled { return nil }
        // A cancelled wait (a worker loop scaled away) returns nil too.
        let id = nextGetter
        nextGetter += 1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { getters.append((id, $0)) }
        } onCancel: {
            Task { await self.cancelGetter(id) }
        }
    }

    private func cancelGetter(_ id: UInt64) {
        guard let index = getters.firstIndex(where: { $0.id == id }) else { return }
        getters.remove(at: index).continuation.resume(returning: nil)
    }

    /// Puts `item` first, whatever the maximum: an item taken by a worker that is gone for good
    /// goes back for the others.
    func putBack(_ item: PipelineItem) {
        guard !aborted else { return }
        if !getters.isEmpty {
            getters.removeFirst().continuation.resume(returning: item)
            return
        }
        takenCount -= 1
        if head > 0 {
            head -= 1
            items[head] = item
        } else {
            items.insert(item, at: 0)
        }
    }

    /// One producer is done; the last one ends the queue for its consumers once it is empty.
    func producerFinished() {
        producers -= 1
        guard producers <= 0, depth == 0 else { return }
        for getter in getters { getter.continuation.resume(returning: nil) }
        getters.removeAll()
    }

    /// Ends the queue now: waiting producers and consumers return, what it holds is dropped.
    func abort() {
        aborted = true
        items.removeAll()
        head = 0
        for getter in getters { getter.continuation.resume(returning: nil) }
        for putter in putters { putter.resume() }
        getters.removeAll()
        putters.removeAll()
    }
}
