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

    /// The requests in this worker's mailbox, decoded as `T`, in arrival order. The sequence
    /// ends when the parent closes the channel; a request whose payload is not a `T` is
    /// answered with an error envelope and skipped.
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
