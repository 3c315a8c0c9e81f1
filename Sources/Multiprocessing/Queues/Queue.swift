import MessagePack

/// A multi-producer, multi-consumer FIFO queue shared by every process of the tree: Python's
/// `multiprocessing.Queue`, served by the supervisor.
///
/// A `Queue` is a small `Codable` handle: pass it to a child as (part of) its argument or
/// inside any message, and every process puts and gets through it. Items are any `Codable`
/// value, encoded once by the producer and decoded once by the consumer; the supervisor
/// forwards their bytes without decoding them.
///
/// ```swift
/// struct Job: Codable { var id: Int; var name: String }
/// let consume = ProcessFunction("consume") { (jobs: Queue<Job>) -> [Int] in
///     var ids: [Int] = []
///     for try await job in jobs { ids.append(job.id) }     // ends when shut down and drained
///     return ids
/// }
/// // after Multiprocessing.bootstrap(functions: [consume]):
/// let jobs = try Queue<Job>(maxsize: 100)                 // mp.Queue(100)
/// let worker = try await ChildProcess.start(consume, jobs)
/// for id in 0..<1_000 { try await jobs.put(Job(id: id, name: "job \(id)")) }   // waits while full
/// jobs.shutdown()                                         // no more puts anywhere: the loop ends
/// print(try await worker.value.count)                     // 1000
/// ```
///
/// Semantics (Python's, with the differences a brokered queue makes):
/// - `put` waits while a bounded queue is full; `get` waits while it is empty. Both take a
///   timeout (`nil`: wait as long as it takes, `.zero` or negative: do not wait) and throw
///   ``QueueError/Code/full`` or ``QueueError/Code/empty`` when it passes; every wait honours
///   task cancellation, and a cancelled get loses no item.
/// - Items from one producer are first delivered in the order it put them; consumers that
///   wait are served in turn (round-robin).
/// - The supervisor holds at most about `byteBudget` bytes of items for the queue (64 MiB unless
///   told otherwise): past it, `put` waits as on a full bounded queue (with its timeout and
///   ``QueueError/Code/full``) until consumers have taken it back under half the budget, so a
///   fast producer cannot grow the parent's memory without end. The supervisor says so once per
///   queue on standard error.
/// - ``close()`` is Python's: this process puts and gets no more (both throw
///   ``QueueError/Code/closed``); other processes are not affected, and ``count``, ``isEmpty``
///   and ``isFull`` still answer.
/// - ``shutdown(immediate:)`` is Python 3.13's `queue.Queue.shutdown`, for every process: puts
///   everywhere throw ``QueueError/Code/shutDown``; gets return what is left, then throw it, and
///   iteration ends. With `immediate` what is left is dropped.
/// - A consumer fetches items ahead of its code (prefetch); ``count`` includes them. If it ends
///   or dies, the items its code had not got go back to the front of the queue. An item whose
///   `get` returned is consumed, as in Python (``JoinableQueue`` delivers it again instead
///   unless it was marked done).
public struct Queue<Element: Codable>: Sendable, Codable, AsyncSequence {
    let core: QueueCore<Element>

    /// A new queue served through `clients` (a runtime's; the public initializer uses the
    /// default runtime's).
    init(maxsize: Int = 0, byteBudget: Int = 64 << 20, clients: QueueClients) throws {
        let handle = try clients.makeHandle(maxsize: maxsize, joinable: false, byteBudget: byteBudget)
        core = QueueCore(handle: handle, client: try clients.client(for: handle))
    }

    /// The bound given at creation; 0 means unbounded.
    public var maxsize: Int { core.handle.maxsize }

    /// The byte budget given at creation: bytes of encoded items the supervisor holds before puts wait.
    public var byteBudget: Int { core.handle.byteBudget }

    /// Puts `item` at the end, waiting while the queue is full: for at most `timeout` if given
    /// (then ``QueueError/Code/full``), not at all with `.zero` or a negative timeout. On an
    /// unbounded queue it never waits. Throws ``QueueError/Code/itemTooLarge`` for an item above
    /// the largest frame, ``QueueError/Code/closed`` after this process's ``close()``, and
    /// ``QueueError/Code/shutDown`` once the queue is shut down (a waiting put too).
    nonisolated(nonsending) public func put(_ item: Element, timeout: Duration? = nil) async throws {
        try await core.put(item, timeout: timeout)
    }

    /// Python's `put_nowait`: ``put(_:timeout:)`` with `.zero`.
    public func putNowait(_ item: Element) async throws {
        try await core.put(item, timeout: .zero)
    }

    /// Removes and returns the first item, waiting while the queue is empty: for at most
    /// `timeout` if given (then ``QueueError/Code/empty``), not at all with `.zero` or a negative
    /// timeout. Throws ``QueueError/Code/closed`` after this process's ``close()``, and
    /// ``QueueError/Code/shutDown`` once the queue is shut down and drained.
    nonisolated(nonsending) public func get(timeout: Duration? = nil) async throws -> Element {
        try await core.get(timeout: timeout)
    }

    /// Python's `get_nowait`: ``get(timeout:)`` with `.zero`.
    public func getNowait() async throws -> Element {
        try await core.get(timeout: .zero)
    }

    /// Python's `qsize()`: items not yet returned by a get, those prefetched by consumers
    /// included. Exact for what this process did; other processes may be acting meanwhile.
    public var count: Int { get async throws { try await core.client.status().count } }

    /// Python's `empty()`.
    public var isEmpty: Bool { get async throws { try await count == 0 } }

    /// Python's `full()`: a bounded queue holding `maxsize` items or more.
    public var isFull: Bool { get async throws { let count = try await count; return maxsize > 0 && count >= maxsize } }

    /// Python's `close()`: this process will put no more. Its later puts and gets throw
    /// ``QueueError/Code/closed`` (Python's `ValueError`), its waiting gets end with it; other
    /// processes are not affected, and ``count``, ``isEmpty`` and ``isFull`` still answer. To
    /// end the queue for everyone (and the consumers' loops), use ``shutdown(immediate:)``.
    public func close() { core.client.closeHere() }

    /// Shuts the queue down for every process (Python 3.13's `queue.Queue.shutdown`): puts
    /// everywhere throw ``QueueError/Code/shutDown`` (waiting ones too); gets return what is
    /// left, then throw it, and `for try await` loops end. With `immediate` what is queued is
    /// dropped at once (items a consumer has already fetched ahead still reach its code).
    /// ``count`` then reports what is left, ``isEmpty`` is true once nothing is.
    public func shutdown(immediate: Bool = false) { core.client.shutdown(immediate: immediate) }

    /// Python's `join_thread()`: a no-op. There is no feeder thread; a worker's puts leave with
    /// its run loop's next write, at the latest before it exits, so there is nothing to wait for.
    public func joinThread() {}

    /// Python's `cancel_join_thread()`: a no-op, for the same reason as ``joinThread()`` (a
    /// process never waits at exit for its puts to be flushed).
    public func cancelJoinThread() {}

    // MARK: Codable, AsyncSequence

    /// Reads a handle and finds its client among `clients`.
    init(from decoder: any Decoder, clients: QueueClients) throws {
        core = try QueueCore(from: decoder, joinable: false, as: "Queue", clients: clients)
    }

    /// Writes the handle: `{"queue": id, "maxsize": n, "joinable": bool}` and `"byteBudget"` if not
    /// the default (never the items).
    public func encode(to encoder: any Encoder) throws { try core.encode(to: encoder) }

    /// Gets items until the queue is shut down and drained.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: QueueCore<Element>
        /// The next item (waiting as ``get(timeout:)`` does); nil once the queue is shut down and drained.
        nonisolated(nonsending) public mutating func next() async throws -> Element? { try await core.next() }
    }

    /// An iterator that gets items until the queue is shut down and drained.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core) }
}

/// What the three queue types share: the handle, this process's client of it (found once,
/// when the handle is made or decoded), and encoding items at the edge.
struct QueueCore<Element: Codable>: Sendable {
    let handle: QueueHandle
    let client: QueueClient

    func decode(_ bytes: ArraySlice<UInt8>) throws -> Element {
        try bytes.withUnsafeBytes { try QueueCodec.decoder.decode(Element.self, from: $0) }
    }

    @inline(__always)
    nonisolated(nonsending) func put(_ item: Element, timeout: Duration?) async throws {
        let timeout = QueueClient.normalized(timeout)
        if try client.tryPut(item) { return }
        try await client.putWaiting(try QueueCodec.encoder.encode(item), timeout: timeout)
    }

    @inline(__always)
    nonisolated(nonsending) func get(timeout: Duration?) async throws -> Element {
        let timeout = QueueClient.normalized(timeout)
        if let bytes = try client.tryGet() { return try decode(bytes) }
        return try decode(try await client.waitForItem(timeout: timeout))
    }

    nonisolated(nonsending) func next() async throws -> Element? {
        do { return try await get(timeout: nil) } catch let error as QueueError where error.code == .shutDown { return nil }
    }

    private enum CodingKeys: String, CodingKey { case queue, maxsize, joinable, byteBudget }

    init(handle: QueueHandle, client: QueueClient) {
        self.handle = handle
        self.client = client
    }

    init(from decoder: any Decoder, joinable: Bool, as typeName: String, clients: QueueClients) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let handle = QueueHandle(id: try container.decode(UInt64.self, forKey: .queue),
                                 maxsize: try container.decode(Int.self, forKey: .maxsize),
                                 joinable: try container.decode(Bool.self, forKey: .joinable),
                                 byteBudget: try container.decodeIfPresent(Int.self, forKey: .byteBudget) ?? QueueHandle.defaultByteBudget)
        guard handle.joinable == joinable else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "queue \(handle.id) is \(handle.joinable ? "a JoinableQueue" : "not a JoinableQueue"); it cannot be read as a \(typeName)"))
        }
        self.init(handle: handle, client: try clients.client(for: handle))
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(handle.id, forKey: .queue)
        try container.encode(handle.maxsize, forKey: .maxsize)
        try container.encode(handle.joinable, forKey: .joinable)
        if handle.byteBudget != QueueHandle.defaultByteBudget { try container.encode(handle.byteBudget, forKey: .byteBudget) }
    }
}

/// One encoder and decoder for every queue of the process (both reuse their working objects
/// across calls and may be used from any thread).
enum QueueCodec {
    static let encoder = MessagePackEncoder()
    static let decoder = MessagePackDecoder()
}
