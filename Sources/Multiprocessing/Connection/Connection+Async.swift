/// The async forms: the same operations as the blocking ones, but a wait happens on the
/// process's poller thread (``ConnectionPoller``), never on Swift's cooperative thread pool,
/// and it ends with task cancellation (`CancellationError`) and with ``Connection/close()``
/// (``ConnectionError/Code/closed``). Reads and writes that do not wait run on the task.
///
/// In an `async` function, `try await connection.receive(T.self)` is this form; the blocking
/// form is reached from synchronous code (a non-async function or closure).
extension Connection {
    /// Sends `value` as one frame, waiting off the thread pool while the pipe is full.
    /// Cancellation before the first byte went throws `CancellationError` and sends nothing;
    /// once a frame has started, it is finished (a half frame would break the stream).
    /// Errors as the blocking ``send(_:)``.
    public func send<T: Encodable>(_ value: T) async throws {
        try Task.checkCancellation()
        try enter(.send)
        defer { leave(.send) }
        try sender.frame(value)
        try await flushWaitingOffPool()
    }

    /// Sends `bytes` as one frame's body, as the blocking ``send(bytes:)`` does, waiting as
    /// the async `send(_:)` does.
    public func send<Bytes: Collection<UInt8>>(bytes: Bytes) async throws {
        try Task.checkCancellation()
        try enter(.send)
        defer { leave(.send) }
        try sender.frame(bytes: bytes)
        try await flushWaitingOffPool()
    }

    /// The next frame decoded as `type`, waiting off the thread pool up to `timeout` (nil:
    /// no limit). Errors as the blocking ``receive(_:timeout:)``, plus `CancellationError`;
    /// bytes of a frame that arrived before a timeout or a cancellation stay buffered.
    public func receive<T: Decodable>(_ type: T.Type = T.self, timeout: Duration? = nil) async throws -> T {
        var value: T?
        try await receiveFrame(timeout: timeout) { (body) throws(ConnectionError) in value = try receiver.decode(type, from: body) }
        return value!
    }

    /// The next frame's body, as sent, waiting as the async `receive(_:timeout:)` does.
    public func receiveBytes(timeout: Duration? = nil) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        try await receiveFrame(timeout: timeout) { body in bytes = Array(body) }
        return bytes
    }

    /// Copies the next frame's body into `buffer` and returns its size, waiting as the async
    /// `receive(_:timeout:)` does; a body larger than `buffer` throws
    /// ``ConnectionError/Code/bufferTooShort`` carrying it, as the blocking
    /// ``receiveBytes(into:timeout:)`` does.
    public func receiveBytes(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration? = nil) async throws -> Int {
        var count = 0
        try await receiveFrame(timeout: timeout) { (body) throws(ConnectionError) in count = try Self.copy(body, into: buffer) }
        return count
    }

    /// Whether a receive would return at once, waiting off the thread pool up to `timeout`
    /// for that (nil: no limit; zero: only look). As the blocking ``poll(timeout:)``.
    public func poll(timeout: Duration? = .zero) async throws -> Bool {
        let deadline = Self.deadline(after: timeout)
        try enter(.receive)
        defer { leave(.receive) }
        while true {
            if receiver.hasFrameOrEnded { return true }
            guard try await waitUntilReadable(deadline) else { return false }
            try receiver.fill(from: readEnd)
        }
    }

    /// Waits until at least one of `connections` has a whole frame to receive (or its stream
    /// ended), or `timeout` passes; returns those that have, in the order given (empty on
    /// timeout; a negative timeout means zero). Python's `multiprocessing.connection.wait` over
    /// connections.
    public static func waitForAny(_ connections: [Connection], timeout: Duration? = nil) async throws -> [Connection] {
        try await Multiprocessing.wait(for: connections, timeout: timeout).map { $0 as! Connection }
    }

    // MARK: - Waiting off the pool

    private func receiveFrame(timeout: Duration?, _ body: (UnsafeRawBufferPointer) throws(ConnectionError) -> Void) async throws {
        let deadline = Self.deadline(after: timeout)
        try Task.checkCancellation()
        try enter(.receive)
        defer { leave(.receive) }
        while true {
            if try receiver.nextFrame(body) { return }
            guard try await waitUntilReadable(deadline) else {
                throw ConnectionError(.timedOut, "no whole frame arrived within \(timeout ?? .zero)")
            }
            try receiver.fill(from: readEnd)   // readable: this read does not block
        }
    }

    /// Returns at once when the read end is readable (data or end of file), else waits for
    /// that on the poller until `deadline`; false when the deadline passed.
    private func waitUntilReadable(_ deadline: ContinuousClock.Instant?) async throws -> Bool {
        do {
            if try readEnd.waitUntilReadable(timeout: .zero) { return true }
        } catch {
            throw ConnectionError.system(error, "poll")
        }
        if let deadline, deadline <= .now { return false }
        switch try await ConnectionPoller.shared().wait(for: readEnd, .readable, until: deadline) {
        case .ready: return true
        case .timedOut: return false
        case .cancelled: throw CancellationError()
        case .interrupted, .notOpen: throw ConnectionError.closedEnd
        }
    }

    /// Writes the buffered frame, waiting on the poller while the pipe is full.
    private func flushWaitingOffPool() async throws {
        guard var pending = try sender.flushWithoutWaiting(to: writeEnd) else { return }
        while !pending.started {
            // Nothing went yet: a wait here may still be cancelled, and the frame dropped.
            switch try await ConnectionPoller.shared().wait(for: writeEnd, .writable, until: nil) {
            case .ready, .timedOut: break
            case .cancelled: throw CancellationError()
            case .interrupted, .notOpen: throw ConnectionError.closedEnd
            }
            let written = try pending.bytes.withUnsafeBytes { Sender.writeSome($0, to: writeEnd) }.get()
            if written == pending.bytes.count { return }
            if written > 0 {
                pending.bytes.removeFirst(written)
                pending.started = true
            }
        }
        // The frame has started: finish it in a task that the caller's cancellation does not
        // reach (only close() ends it).
        let rest = pending.bytes
        try await Task.detached { [self] in try await finish(rest) }.value
    }

    private func finish(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            switch try await ConnectionPoller.shared().wait(for: writeEnd, .writable, until: nil) {
            case .ready, .timedOut, .cancelled: break
            case .interrupted, .notOpen: throw ConnectionError.closedEnd
            }
            offset += try bytes.withUnsafeBytes { raw in
                Sender.writeSome(UnsafeRawBufferPointer(rebasing: raw[offset...]), to: writeEnd)
            }.get()
        }
    }
}
