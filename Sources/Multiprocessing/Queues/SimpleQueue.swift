/// An unbounded queue with only the basic operations: Python's `multiprocessing.SimpleQueue`.
///
/// Its `put` never waits, so it is synchronous and can be called from synchronous code in any
/// process (it queues the frame; a worker writes its puts in batches). Like ``Queue`` it is a
/// `Codable` handle shared by every process, and its consumers iterate it with `for try await`.
///
/// ```swift
/// let results = try SimpleQueue<Int>()
/// let squarer = ProcessFunction("squarer") { (job: Job) in   // struct Job: Codable { var n: Int; var out: SimpleQueue<Int> }
///     for i in 0..<job.n { try job.out.put(i * i) }
///     job.out.shutdown()                                     // the parent's loop ends
///     return job.n
/// }
/// _ = try await ChildProcess.start(squarer, Job(n: 10, out: results))
/// for try await square in results { print(square) }         // 0, 1, 4, ... then the loop ends
/// ```
public struct SimpleQueue<Element: Codable>: Sendable, Codable, AsyncSequence {
    let core: QueueCore<Element>

    /// A new queue served through `clients` (a runtime's; the public initializer uses the
    /// default runtime's).
    init(byteBudget: Int = 64 << 20, clients: QueueClients) throws {
        let handle = try clients.makeHandle(maxsize: 0, joinable: false, byteBudget: byteBudget)
        core = QueueCore(handle: handle, client: try clients.client(for: handle))
    }

    /// The byte budget given at creation.
    public var byteBudget: Int { core.handle.byteBudget }

    /// Puts `item` at the end; never waits. Throws ``QueueError/Code/itemTooLarge`` for an item
    /// above the largest frame, ``QueueError/Code/closed`` after this process's ``close()``,
    /// ``QueueError/Code/shutDown`` once the queue is shut down, and
    /// ``QueueError/Code/full`` while the supervisor holds the queue past its byte budget (a
    /// synchronous put cannot wait: use a ``Queue`` for a producer that should).
    public func put(_ item: Element) throws {
        try core.client.putUnbounded(item)
    }

    /// Removes and returns the first item, waiting until there is one. Throws
    /// ``QueueError/Code/shutDown`` once the queue is shut down and drained.
    nonisolated(nonsending) public func get() async throws -> Element {
        try await core.get(timeout: nil)
    }

    /// Python's `empty()`.
    public var isEmpty: Bool { get async throws { try await core.client.status().count == 0 } }

    /// Python's `close()`: this process puts and gets no more (see ``Queue/close()``).
    public func close() { core.client.closeHere() }

    /// Shuts the queue down for every process (see ``Queue/shutdown(immediate:)``).
    public func shutdown(immediate: Bool = false) { core.client.shutdown(immediate: immediate) }

    /// Reads a handle and finds its client among `clients`.
    init(from decoder: any Decoder, clients: QueueClients) throws {
        core = try QueueCore(from: decoder, joinable: false, as: "SimpleQueue", clients: clients)
    }

    /// Writes the handle: `{"queue": id, "maxsize": n, "joinable": bool}` (never the items).
    public func encode(to encoder: any Encoder) throws { try core.encode(to: encoder) }

    /// Gets items until the queue is shut down and drained.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: QueueCore<Element>
        /// The next item (waiting as ``get()`` does); nil once the queue is shut down and drained.
        nonisolated(nonsending) public mutating func next() async throws -> Element? { try await core.next() }
    }

    /// An iterator that gets items until the queue is shut down and drained.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core) }
}
