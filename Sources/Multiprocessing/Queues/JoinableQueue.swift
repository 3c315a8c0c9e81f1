/// A ``Queue`` whose consumers mark each item done, and whose producers can wait until every
/// item was: Python's `multiprocessing.JoinableQueue`. Delivery is at least once: an item a
/// consumer got but did not mark done before it died is delivered again, ahead of later items.
///
/// ```swift
/// let tasks = try JoinableQueue<String>()
/// for _ in 0..<4 { _ = try await ChildProcess.start(work, tasks) }
/// for url in urls { try await tasks.put(url) }
/// try await tasks.join()            // every url was processed (and marked done)
/// tasks.shutdown()                  // the workers' loops end
///
/// let work = ProcessFunction("work") { (tasks: JoinableQueue<String>) -> Int in
///     for try await url in tasks {
///         process(url)
///         try tasks.taskDone()      // after the work: a crash before this redelivers the url
///     }
///     return 0
/// }
/// ```
///
/// `taskDone()` marks the oldest item this process got and has not marked done (Python does
/// not say which item either); call it in the process that got the item.
public struct JoinableQueue<Element: Codable>: Sendable, Codable, AsyncSequence {
    let core: QueueCore<Element>

    /// A new queue served through `clients` (a runtime's; the public initializer uses the
    /// default runtime's).
    init(maxsize: Int = 0, byteBudget: Int = 64 << 20, clients: QueueClients) throws {
        let handle = try clients.makeHandle(maxsize: maxsize, joinable: true, byteBudget: byteBudget)
        core = QueueCore(handle: handle, client: try clients.client(for: handle))
    }

    /// The bound given at creation; 0 means unbounded.
    public var maxsize: Int { core.handle.maxsize }

    /// The byte budget given at creation (see ``Queue/byteBudget``).
    public var byteBudget: Int { core.handle.byteBudget }

    /// See ``Queue/put(_:timeout:)``.
    nonisolated(nonsending) public func put(_ item: Element, timeout: Duration? = nil) async throws {
        try await core.put(item, timeout: timeout)
    }

    /// Python's `put_nowait`.
    public func putNowait(_ item: Element) async throws {
        try await core.put(item, timeout: .zero)
    }

    /// See ``Queue/get(timeout:)``. Mark the item done with ``taskDone()`` once processed.
    nonisolated(nonsending) public func get(timeout: Duration? = nil) async throws -> Element {
        try await core.get(timeout: timeout)
    }

    /// Python's `get_nowait`.
    public func getNowait() async throws -> Element {
        try await core.get(timeout: .zero)
    }

    /// Marks the oldest item this process got and has not marked done as done. Throws
    /// ``QueueError/Code/taskDoneTooManyTimes`` if there is none (Python's `ValueError`).
    public func taskDone() throws {
        try core.client.taskDone()
    }

    /// Waits until every item put so far was got and marked done (Python's `join()`).
    /// Honours task cancellation.
    public func join() async throws {
        try await core.client.join()
    }

    /// Items put and not yet marked done, in every process.
    public var unfinishedCount: Int { get async throws { try await core.client.status().unfinished } }

    /// See ``Queue/count``.
    public var count: Int { get async throws { try await core.client.status().count } }

    /// Python's `empty()`.
    public var isEmpty: Bool { get async throws { try await count == 0 } }

    /// Python's `full()`.
    public var isFull: Bool { get async throws { let count = try await count; return maxsize > 0 && count >= maxsize } }

    /// Python's `close()`: this process will put no more (see ``Queue/close()``). ``taskDone()``
    /// and ``join()`` still work here.
    public func close() { core.client.closeHere() }

    /// Shuts the queue down for every process (see ``Queue/shutdown(immediate:)``). Consumers
    /// waiting on a shut-down queue end only when no other process holds an item that could
    /// still come back. With `immediate` the dropped items count as done, so ``join()`` returns
    /// once the items already got are marked done (Python 3.13's rule).
    public func shutdown(immediate: Bool = false) { core.client.shutdown(immediate: immediate) }

    /// Python's `join_thread()`: a no-op (see ``Queue/joinThread()``).
    public func joinThread() {}

    /// Python's `cancel_join_thread()`: a no-op (see ``Queue/cancelJoinThread()``).
    public func cancelJoinThread() {}

    /// Reads a handle and finds its client among `clients`.
    init(from decoder: any Decoder, clients: QueueClients) throws {
        core = try QueueCore(from: decoder, joinable: true, as: "JoinableQueue", clients: clients)
    }

    /// Writes the handle: `{"queue": id, "maxsize": n, "joinable": bool}` (never the items).
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
