import MessagePack
import Synchronization

/// One end of a direct duplex connection between two processes: Python's
/// `multiprocessing.Pipe()`, with `Codable` values in msgpack instead of pickles, and no
/// supervisor in the path.
///
/// ```swift
/// let (mine, theirs) = try Connection.pair()
/// var options = ProcessOptions()
/// try options.pass(theirs, as: "jobs")            // the child gets a copy at spawn
/// let child = try await ChildProcess.start(worker, 0, options: options)
/// theirs.close()                                  // ours: so that the child's death is EOF here
/// try await mine.send(Job(id: 1))                 // async code: waits off the thread pool
/// let result = try await mine.receive(JobResult.self, timeout: .seconds(5))
///
/// // In the child (the entry `worker`), synchronous code: the calls block the thread.
/// func serve(_ jobs: Connection) throws {
///     while let job = try? jobs.receive(Job.self) { try jobs.send(run(job)) }
/// }
/// try serve(try Connection.inherited("jobs"))
/// ```
///
/// **Transport.** Two pipes, one per direction; the frames of the runtime (a 4-byte
/// big-endian length, then one msgpack value), written by ``FrameWriter`` and read by
/// ``FrameReader``. Pipes rather than a socketpair (Python's choice): a pipe round trip of a
/// small frame measured 7 us here against 12-15 us for a `socketpair`, and the target
/// is within 2x of a C pipe ping-pong. An end therefore holds two descriptors: the read end
/// of one pipe (blocking) and the write end of the other (non-blocking: a full pipe makes a
/// send wait in `poll`, which is what lets an async send wait off the thread pool).
///
/// **Speed.** A blocking ``receive(_:timeout:)`` reads on the calling thread: no thread hop,
/// one `read` for a small message that is not there yet, several frames taken per `read`
/// when they queue up. A send is one `write` of the whole frame. The async forms wait for
/// readiness on one process-wide poller thread (``ConnectionPoller``), then read or write
/// on the task: one more wake-up per wait than the blocking forms.
///
/// **One caller per direction.** At any moment an end has at most one receive (or `poll`)
/// and at most one send in progress; a second one fails at once with
/// ``ConnectionError/Code/busy`` instead of corrupting the stream. A send and a receive may
/// run at the same time, on different threads or tasks. Put an end behind an actor or a lock
/// to share it between several senders.
///
/// **One-way connections.** ``pair(duplex:maxFrameSize:)`` with `duplex: false` is Python's
/// `Pipe(duplex=False)`: one pipe, a reader end (``isReadable``) and a writer end
/// (``isWritable``); a send on the reader or a receive on the writer throws
/// ``ConnectionError/Code/wrongDirection``.
///
/// **Ownership.** An end owns its two descriptors and closes each exactly once: at
/// ``close()``, or when the last reference goes away. ``pair(maxFrameSize:)`` returns two
/// ends that own everything it opened (nothing is left open if it throws).
/// ``ProcessOptions/pass(_:as:)`` gives a child *copies*: the parent still owns its end
/// and must close it once the child started (whether `start` succeeded or not), or the
/// other side never sees end of file when the child dies. In the child,
/// ``inherited(_:maxFrameSize:)`` takes ownership of the copies.
///
/// **Signals.** A write to a pipe nobody reads raises `SIGPIPE`, which kills a process by
/// default. ``pair(maxFrameSize:)`` sets `SIGPIPE` to ignored in this process (as CPython
/// and SwiftNIO do), so a send to a closed peer throws ``ConnectionError/Code/peerClosed``.
/// Children get every signal back at default when they are spawned.
public final class Connection: Sendable, CustomStringConvertible {
    /// Frames larger than this are refused, incoming and outgoing.
    public let maxFrameSize: Int
    /// Whether this end receives (Python's `readable`): false for the writer of a one-way pair.
    public let isReadable: Bool
    /// Whether this end sends (Python's `writable`): false for the reader of a one-way pair.
    public let isWritable: Bool
    /// The read end; ``absent`` in a writer-only end.
    let readEnd: FileDescriptor
    /// The write end; ``absent`` in a reader-only end.
    let writeEnd: FileDescriptor
    /// Which end is open and which direction is in use: ``State`` bits, changed by
    /// compare-and-exchange (one atomic operation per enter and per leave). Each direction's
    /// state (``Receiver``, ``Sender``) is touched only by the caller that holds that direction.
    private let state = Atomic<UInt8>(0)
    let receiver: Receiver
    let sender: Sender

    private enum State {
        static let closed: UInt8 = 1
        static let receiving: UInt8 = 2
        static let sending: UInt8 = 4
        static let readEndClosed: UInt8 = 8
        static let writeEndClosed: UInt8 = 16
    }

    enum Direction { case receive, send }

    /// The stand-in for the end a one-way connection does not have: never read, written or
    /// closed (its ``State`` bit says closed from the start).
    static let absent = FileDescriptor(rawValue: -1)

    /// Whether the two descriptors are one connected socket and its duplicate
    /// (``adoptingSocket(_:maxFrameSize:)``): ``close()`` then shuts the socket down, which
    /// wakes a receive blocked on it.
    let isSocket: Bool

    init(readEnd: FileDescriptor, writeEnd: FileDescriptor, maxFrameSize: Int, isSocket: Bool = false) {
        self.isSocket = isSocket
        self.readEnd = readEnd
        self.writeEnd = writeEnd
        self.isReadable = readEnd != Self.absent
        self.isWritable = writeEnd != Self.absent
        self.maxFrameSize = maxFrameSize
        self.receiver = Receiver(maxFrameSize: maxFrameSize)
        self.sender = Sender(maxFrameSize: maxFrameSize)
        state.store((isReadable ? 0 : State.readEndClosed) | (isWritable ? 0 : State.writeEndClosed), ordering: .relaxed)
    }

    /// An end over `readEnd` (made blocking) and `writeEnd` (made non-blocking, and both
    /// close-on-exec if asked); either may be ``absent`` (a one-way end). It owns the
    /// descriptors from now on: if this throws, they are closed.
    static func adopting(readEnd: FileDescriptor, writeEnd: FileDescriptor, maxFrameSize: Int,
                         setCloseOnExec: Bool = false) throws(ConnectionError) -> Connection {
        let connection = Connection(readEnd: readEnd, writeEnd: writeEnd, maxFrameSize: maxFrameSize)
        do {
            if connection.isReadable { try readEnd.setNonBlocking(false) }
            if connection.isWritable { try writeEnd.setNonBlocking(true) }
            if setCloseOnExec {
                if connection.isReadable { try readEnd.setCloseOnExec(true) }
                if connection.isWritable { try writeEnd.setCloseOnExec(true) }
            }
        } catch {
            connection.close()
            throw ConnectionError.system(error, "setting up the connection's descriptors")
        }
        return connection
    }

    deinit {
        // No operation can be in progress: each one holds a reference.
        let current = state.load(ordering: .acquiring)
        if current & State.readEndClosed == 0 { _ = readEnd._close() }
        if current & State.writeEndClosed == 0 { _ = writeEnd._close() }
    }

    /// A new connection: Python's `Pipe(duplex)`. Duplex (the default): two ends, each able
    /// to send to and receive from the other. One-way (`duplex: false`): `(reader, writer)`,
    /// the first only receives and the second only sends, as Python's `(r, w)`. Hand an end
    /// to a child with ``ProcessOptions/pass(_:as:)``; keep both to talk between threads.
    ///
    /// ```swift
    /// let (reader, writer) = try Connection.pair(duplex: false)
    /// try writer.send("hello")
    /// print(try reader.receive(String.self))    // "hello"
    /// ```
    ///
    /// The ends own the descriptors (four duplex, two one-way; close-on-exec); if this
    /// throws, nothing is left open. Sets `SIGPIPE` to ignored in this process (see the
    /// type's documentation). The corresponding C function is `pipe2`.
    public static func pair(duplex: Bool = true,
                            maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) throws(ConnectionError) -> (Connection, Connection) {
        guard maxFrameSize > 0 else {
            throw ConnectionError(.invalidArgument, "the maximum frame size \(maxFrameSize) is not positive")
        }
        ignoreBrokenPipeSignal()
        if !duplex {
            let pipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
            do { pipe = try FileDescriptor.pipe() } catch { throw ConnectionError.system(error, "pipe2") }
            let reader: Connection
            do { reader = try adopting(readEnd: pipe.readEnd, writeEnd: absent, maxFrameSize: maxFrameSize) } catch {
                _ = pipe.writeEnd._close()
                throw error
            }
            return (reader, try adopting(readEnd: absent, writeEnd: pipe.writeEnd, maxFrameSize: maxFrameSize))
        }
        let there: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        let back: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do { there = try FileDescriptor.pipe() } catch { throw ConnectionError.system(error, "pipe2") }
        do { back = try FileDescriptor.pipe() } catch {
            _ = there.readEnd._close()
            _ = there.writeEnd._close()
            throw ConnectionError.system(error, "pipe2")
        }
        let first: Connection
        do { first = try adopting(readEnd: back.readEnd, writeEnd: there.writeEnd, maxFrameSize: maxFrameSize) } catch {
            _ = there.readEnd._close()
            _ = back.writeEnd._close()
            throw error
        }
        let second = try adopting(readEnd: there.readEnd, writeEnd: back.writeEnd, maxFrameSize: maxFrameSize)
        return (first, second)   // if `second` failed, `first` closes its ends as it goes away
    }

    private static let brokenPipeIgnored = Mutex(false)

    /// Sets `SIGPIPE` to ignored, once per process.
    static func ignoreBrokenPipeSignal() {
        brokenPipeIgnored.withLock { done in
            if !done { _ = try? Signal.pipe.setIgnored(true) }
            done = true
        }
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { state.load(ordering: .acquiring) & State.closed != 0 }

    /// Whether a receive (or poll) is in progress on this end (for tests and diagnostics).
    var isReceiving: Bool { state.load(ordering: .acquiring) & State.receiving != 0 }

    public var description: String {
        if isClosed { return "Connection(closed)" }
        if !isWritable { return "Connection(reader, fd \(readEnd.rawValue))" }
        if !isReadable { return "Connection(writer, fd \(writeEnd.rawValue))" }
        return "Connection(read fd \(readEnd.rawValue), write fd \(writeEnd.rawValue))"
    }

    /// The descriptor number a caller can wait on (Python's `fileno()`): the read end's, or
    /// the write end's for a writer-only end. Borrowed: this end still owns it and closes
    /// it at ``close()``; do not close it, read from it or keep it past the end's life.
    /// Throws ``ConnectionError/Code/closed`` once the end is closed.
    public var fileno: Int32 {
        get throws(ConnectionError) {
            if isClosed { throw ConnectionError.closedEnd }
            return isReadable ? readEnd.rawValue : writeEnd.rawValue
        }
    }

    // MARK: - Sending

    /// Sends `value` as one frame: one `write` (more only when the pipe is full, waiting in
    /// `poll` for the reader to catch up). Throws ``ConnectionError`` with
    /// ``ConnectionError/Code/encodingFailed`` or ``ConnectionError/Code/frameTooLarge`` (nothing
    /// sent), ``ConnectionError/Code/peerClosed`` (the other end is closed),
    /// ``ConnectionError/Code/busy``, ``ConnectionError/Code/closed``.
    public func send<T: Encodable>(_ value: T) throws(ConnectionError) {
        try enter(.send)
        defer { leave(.send) }
        try sender.frame(value)
        try sender.flush(to: writeEnd)
    }

    /// Sends `bytes` as one frame's body, as they are: Python's `send_bytes`. The other end
    /// gets them back with ``receiveBytes(timeout:)``.
    public func send<Bytes: Collection<UInt8>>(bytes: Bytes) throws(ConnectionError) {
        try enter(.send)
        defer { leave(.send) }
        try sender.frame(bytes: bytes)
        try sender.flush(to: writeEnd)
    }

    // MARK: - Receiving

    /// The next frame, decoded as `type`, blocking the calling thread until it is whole, or
    /// until `timeout` passes (nil: no limit).
    ///
    /// Throws ``ConnectionError`` with ``ConnectionError/Code/peerClosed`` (end of stream at a
    /// frame boundary: the peer closed or died between messages),
    /// ``ConnectionError/Code/truncatedFrame`` (it ended inside a frame),
    /// ``ConnectionError/Code/frameTooLarge``, ``ConnectionError/Code/decodingFailed`` (the frame
    /// is consumed; the next receive reads the next one), ``ConnectionError/Code/timedOut``,
    /// ``ConnectionError/Code/invalidArgument`` (a negative timeout),
    /// ``ConnectionError/Code/busy``, ``ConnectionError/Code/closed``.
    ///
    /// A ``close()`` from another thread does not wake a receive already blocked here (a pipe
    /// read cannot be interrupted); it returns when a frame or end of file arrives, then
    /// throws ``ConnectionError/Code/closed``. Wait with a timeout, or with the async form
    /// (which close and task cancellation do end), when that matters.
    public func receive<T: Decodable>(_ type: T.Type = T.self, timeout: Duration? = nil) throws(ConnectionError) -> T {
        var value: T?
        try receiveFrame(timeout: timeout) { (body) throws(ConnectionError) in value = try receiver.decode(type, from: body) }
        return value!
    }

    /// The next frame's body, as sent (Python's `recv_bytes`), blocking as
    /// ``receive(_:timeout:)`` does.
    public func receiveBytes(timeout: Duration? = nil) throws(ConnectionError) -> [UInt8] {
        var bytes: [UInt8] = []
        try receiveFrame(timeout: timeout) { body in bytes = Array(body) }
        return bytes
    }

    /// Copies the next frame's body into `buffer` and returns its size (Python's
    /// `recv_bytes_into`), blocking as ``receive(_:timeout:)`` does. A body larger than
    /// `buffer` throws ``ConnectionError/Code/bufferTooShort`` carrying the whole body in
    /// ``ConnectionError/receivedBytes`` (Python's `BufferTooShort`): the frame is consumed,
    /// nothing is lost, and `buffer` is left as it was.
    ///
    /// ```swift
    /// var buffer = [UInt8](repeating: 0, count: 4096)
    /// let count = try buffer.withUnsafeMutableBytes { try connection.receiveBytes(into: $0) }
    /// ```
    public func receiveBytes(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration? = nil) throws(ConnectionError) -> Int {
        var count = 0
        try receiveFrame(timeout: timeout) { (body) throws(ConnectionError) in count = try Self.copy(body, into: buffer) }
        return count
    }

    /// Copies a frame's body into a caller's buffer, or throws ``ConnectionError/Code/bufferTooShort``.
    static func copy(_ body: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> Int {
        guard body.count <= buffer.count else {
            var error = ConnectionError(.bufferTooShort, "a message of \(body.count) bytes does not fit in a buffer of \(buffer.count) bytes")
            error.receivedBytes = Array(body)
            throw error
        }
        if body.count > 0 { buffer.baseAddress!.copyMemory(from: body.baseAddress!, byteCount: body.count) }
        return body.count
    }

    /// Whether a receive would return at once (a whole frame is here, or the stream ended or
    /// failed, which a receive then reports), waiting up to `timeout` for that (nil: no
    /// limit; the default, zero, only looks). Python's `poll`. Bytes that arrive meanwhile are
    /// read into this end's buffer, so `true` means a whole frame, not a first byte.
    public func poll(timeout: Duration? = .zero) throws(ConnectionError) -> Bool {
        let deadline = Self.deadline(after: timeout)
        try enter(.receive)
        defer { leave(.receive) }
        while true {
            if receiver.hasFrameOrEnded { return true }
            guard try waitUntilReadable(deadline) else { return false }
            try receiver.fill(from: readEnd)
        }
    }

    /// Calls `body` with the next whole frame's body, blocking until there is one.
    private func receiveFrame(timeout: Duration?, _ body: (UnsafeRawBufferPointer) throws(ConnectionError) -> Void) throws(ConnectionError) {
        let deadline = Self.deadline(after: timeout)
        try enter(.receive)
        defer { leave(.receive) }
        let result = Result { () throws(ConnectionError) -> Void in
            while true {
                if try receiver.nextFrame(body) { return }
                if let deadline, try !waitUntilReadable(deadline) {
                    throw ConnectionError(.timedOut, "no whole frame arrived within \(timeout ?? .zero)")
                }
                if deadline == nil { receiver.spinBeforeBlocking(on: readEnd) }
                try receiver.fill(from: readEnd)   // blocks only when no deadline was given
                if isClosed { throw ConnectionError.closedEnd }
            }
        }
        if case .failure(let error) = result, error.code != .decodingFailed, error.code != .bufferTooShort, isClosed {
            throw ConnectionError.closedEnd   // closed by another thread while this one waited
        }
        try result.get()
    }

    /// Waits in `poll` until the read end is readable or `deadline` passes.
    private func waitUntilReadable(_ deadline: ContinuousClock.Instant?) throws(ConnectionError) -> Bool {
        let timeout = deadline.map { max(.zero, ContinuousClock.now.duration(to: $0)) }
        do { return try readEnd.waitUntilReadable(timeout: timeout) } catch { throw ConnectionError.system(error, "poll") }
    }

    /// When a wait of `timeout` ends (nil: never); a negative timeout means zero, as in Python.
    static func deadline(after timeout: Duration?) -> ContinuousClock.Instant? {
        guard let timeout else { return nil }
        return ContinuousClock.now.advanced(by: max(timeout, .zero))
    }

    // MARK: - Closing

    /// Closes this end: the peer's receives then end with ``ConnectionError/Code/peerClosed``
    /// (once it read what was sent), and every later use of this end throws
    /// ``ConnectionError/Code/closed``. Closing again does nothing.
    ///
    /// A direction in use by another caller is closed when that call returns; an async
    /// receive or send waiting on this end is woken and throws ``ConnectionError/Code/closed``.
    /// The corresponding C function is `close`.
    public func close() {
        var current = state.load(ordering: .relaxed)
        var updated: UInt8
        repeat {
            if current & State.closed != 0 { return }
            updated = current | State.closed
            if current & State.receiving == 0 { updated |= State.readEndClosed }
            if current & State.sending == 0 { updated |= State.writeEndClosed }
            let (exchanged, original) = state.compareExchange(expected: current, desired: updated, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        } while true
        var busy: [FileDescriptor] = []
        if current & State.readEndClosed == 0 {
            if current & State.receiving == 0 { _ = readEnd._close() } else { busy.append(readEnd) }
        }
        if current & State.writeEndClosed == 0 {
            if current & State.sending == 0 { _ = writeEnd._close() } else { busy.append(writeEnd) }
        }
        if !busy.isEmpty {
            // A blocking read on a socket returns once it is shut down (a pipe's cannot be woken).
            if isSocket, current & State.receiving != 0 { _ = readEnd._shutdown(.both) }
            ConnectionPoller.running?.interrupt(busy)
        }
    }

    /// Takes the socket out of a socket end that nothing uses yet (no receive ever read from
    /// it): the caller owns the returned descriptor, the duplicate is closed, and the end is
    /// closed without touching the socket. Nil for a pipe end, or one in use or closed.
    /// For a server that hands an authenticated socket to its own event loop.
    func takeSocket() -> FileDescriptor? {
        guard isSocket else { return nil }
        let taken = State.closed | State.readEndClosed | State.writeEndClosed
        guard state.compareExchange(expected: 0, desired: taken, ordering: .acquiringAndReleasing).exchanged else { return nil }
        _ = writeEnd._close()
        return readEnd
    }

    /// Claims a direction for one operation.
    @inline(__always)
    func enter(_ direction: Direction) throws(ConnectionError) {
        let bit = direction == .receive ? State.receiving : State.sending
        var current = state.load(ordering: .relaxed)
        while true {
            if current & State.closed != 0 { throw ConnectionError.closedEnd }
            if !(direction == .receive ? isReadable : isWritable) { throw ConnectionError.wrongDirection(direction) }
            if current & bit != 0 {
                throw ConnectionError(.busy, direction == .receive ? "another receive or poll is in progress on this end"
                                                                   : "another send is in progress on this end")
            }
            let (exchanged, original) = state.compareExchange(expected: current, desired: current | bit, ordering: .acquiring)
            if exchanged { return }
            current = original
        }
    }

    /// Releases a direction; closes its descriptor if ``close()`` came meanwhile.
    @inline(__always)
    func leave(_ direction: Direction) {
        let bit = direction == .receive ? State.receiving : State.sending
        let endClosed = direction == .receive ? State.readEndClosed : State.writeEndClosed
        let previous = state.bitwiseAnd(~bit, ordering: .releasing).oldValue
        guard previous & State.closed != 0, previous & endClosed == 0 else { return }
        // close() came while this direction was in use: its descriptor is this caller's to close.
        if state.bitwiseOr(endClosed, ordering: .acquiringAndReleasing).oldValue & endClosed == 0 {
            _ = (direction == .receive ? readEnd : writeEnd)._close()
        }
    }
}
