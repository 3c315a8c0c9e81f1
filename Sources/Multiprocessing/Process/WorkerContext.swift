import MessagePack

/// What a ``Worker`` sees of the runtime: its identity, its mailbox, and a way to answer.
///
/// ```swift
/// struct Echo: Worker {
///     func run(_ context: WorkerContext) async throws {
///         for try await request in context.requests(String.self) { try request.reply(request.value) }
///     }
/// }
/// ```
public struct WorkerContext: Sendable {
    let session: ChildSession

    /// This worker's id, assigned by the supervisor.
    public var id: UInt64 { session.id }
    /// The name the parent gave this worker.
    public var name: String { session.name }

    /// Sends `value` as a request to the worker with id `destination`, through the supervisor,
    /// and returns its reply decoded as `R`; its error envelope is thrown as a ``RemoteError``.
    public func request<Q: Encodable & Sendable, R: Decodable>(_ value: Q, to destination: UInt64, as type: R.Type = R.self,
                                                                timeout: Duration? = nil) async throws -> R {
        let body = try await session.request(value, to: destination, timeout: timeout)
        if body.envelope.kind == .error { throw try body.decodePayload(RemoteError.self) }
        return try body.decodePayload(R.self)
    }

    /// Sends `value` to the worker `destination` as a one-way message (its mailbox gets it as
    /// a ``WorkerEvent/message(from:_:)``), through the supervisor. Waits while the supervisor
    /// holds this worker's new requests and messages (a destination is slow: flow control).
    public func send<M: Encodable>(_ value: M, to destination: UInt64) async throws {
        var writer = FrameWriter(maxFrameSize: session.maxFrameSize)
        do {
            try writer.append(Envelope(.message, from: id, to: destination), payload: value)
        } catch {
            throw ProcessError.sizeChecked(error, "a message", limit: session.maxFrameSize)
        }
        let frame = writer.take()
        await session.waitToSend(bytes: frame.count)
        try frame.withUnsafeBytes { try session.sendFrame($0) }
    }

    /// Asks the supervisor to report when the worker `target` ends: a ``WorkerEvent/down(_:)``
    /// then arrives in this mailbox (at once if `target` is already gone). Erlang's `monitor`.
    public func monitor(_ target: UInt64) async throws {
        let body = try await session.request(Monitor(id: target), to: Envelope.supervisor, kind: .monitor, timeout: nil)
        if body.envelope.kind == .error { throw try body.decodePayload(RemoteError.self) }
    }

    /// Everything that arrives in the mailbox, in order: requests, one-way messages and
    /// `down` reports, each decoded on demand. Ends when the parent ends the mailbox
    /// (``ChildProcess/closeMailbox()``).
    public var events: Events { Events(session: session) }

    /// The requests in this worker's mailbox, decoded as `T`, in arrival order. The sequence
    /// ends when the parent ends the mailbox (``ChildProcess/closeMailbox()``); a request
    /// whose payload is not a `T` is answered with an error envelope and skipped.
    public func requests<T: Decodable & Sendable>(_ type: T.Type) -> Requests<T> {
        Requests(session: session)
    }

    /// A request read from the mailbox, with the way to answer it.
    public struct Request<T: Sendable>: Sendable {
        /// The request's payload.
        public let value: T
        let envelope: Envelope
        let session: ChildSession

        /// Answers the request with `value`.
        public func reply<R: Encodable>(_ value: R) throws {
            try session.send(envelope.answer(.reply), value)
        }

        /// Answers the request with an error: the requester's await throws a ``RemoteError``
        /// naming its type and message.
        public func fail(_ error: any Error) throws {
            try session.send(envelope.answer(.error), RemoteError(error))
        }
    }

    /// The typed view of the mailbox that ``requests(_:)`` returns.
    public struct Requests<T: Decodable & Sendable>: AsyncSequence, Sendable {
        public typealias Element = Request<T>
        let session: ChildSession

        public struct AsyncIterator: AsyncIteratorProtocol {
            let session: ChildSession

            public mutating func next() async throws -> Request<T>? {
                guard let loop = session.runLoop else { return nil }
                while let body = try await loop.nextMailboxFrame() {
                    guard body.envelope.kind == .request else { continue }
                    do {
                        return Request(value: try body.decodePayload(T.self), envelope: body.envelope, session: session)
                    } catch {
                        try? session.send(body.envelope.answer(.error), RemoteError(error))
                    }
                }
                return nil
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(session: session)
        }
    }
}

/// What arrives in a worker's mailbox.
public enum WorkerEvent: Sendable {
    /// A request; answer it with ``WorkerContext/Request/reply(_:)``.
    case request(WorkerContext.Request<MessagePackValue>)
    /// A one-way message from the worker `from` (0: the parent).
    case message(from: UInt64, MessagePackValue)
    /// A monitored worker ended.
    case down(Down)
}

extension WorkerContext {
    /// The mailbox as ``WorkerEvent``s (see ``events``).
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = WorkerEvent
        let session: ChildSession

        public struct AsyncIterator: AsyncIteratorProtocol {
            let session: ChildSession

            public mutating func next() async throws -> WorkerEvent? {
                guard let loop = session.runLoop else { return nil }
                while let body = try await loop.nextMailboxFrame() {
                    do {
                        switch body.envelope.kind {
                        case .request:
                            return .request(Request(value: try body.decodePayload(MessagePackValue.self), envelope: body.envelope, session: session))
                        case .message:
                            return .message(from: body.envelope.source, try body.decodePayload(MessagePackValue.self))
                        case .down:
                            return .down(try body.decodePayload(Down.self))
                        default:
                            continue
                        }
                    } catch {
                        session.log("dropped a \(body.envelope.kind) it could not read: \(error)")
                    }
                }
                return nil
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(session: session) }
    }
}
