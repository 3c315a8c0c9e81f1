// Python's `multiprocessing.connection.wait(object_list, timeout)`: one call that waits for
// the first of several children and connections.

/// Something ``Multiprocessing/wait(for:timeout:)`` can wait for: a ``ChildProcess`` (ready
/// once it has exited, as Python's process sentinel) or a ``Connection`` (ready once a whole
/// frame can be received or its stream ended, as Python's connection).
public protocol Waitable: AnyObject, Sendable {
    /// Whether it is ready now, without waiting.
    var isReady: Bool { get throws }
    /// Returns once it is ready; honours task cancellation and never blocks a thread of
    /// Swift's pool.
    func waitUntilReady() async throws
}

extension ChildProcess: Waitable {
    /// True once the child has exited.
    public var isReady: Bool { !isAlive }

    public func waitUntilReady() async throws { _ = try await join() }
}

extension Connection: Waitable {
    /// True once a whole frame can be received, or the stream ended.
    public var isReady: Bool { get throws { try poll(timeout: .zero) } }

    public func waitUntilReady() async throws { _ = try await poll(timeout: nil) }
}

extension Multiprocessing {
    /// Waits until at least one of `objects` is ready, or `timeout` passes (nil: no limit;
    /// zero or negative: only look), and returns those that are, in the order given (empty on
    /// timeout).
    /// Python's `multiprocessing.connection.wait`, over children and connections alike.
    ///
    /// ```swift
    /// let ready = try await Multiprocessing.wait(for: [child, results], timeout: .seconds(5))
    /// if ready.contains(where: { $0 === results }) { print(try await results.receive(Int.self)) }
    /// if ready.contains(where: { $0 === child }) { print("the child has exited") }
    /// ```
    ///
    /// A connection that another task is receiving on is a ``ConnectionError/Code/busy``
    /// error, as for its own `poll`.
    public static func wait(for objects: [any Waitable], timeout: Duration? = nil) async throws -> [any Waitable] {
        let timeout = timeout.map { max($0, .zero) }
        func ready() throws -> [any Waitable] { try objects.filter { try $0.isReady } }
        let now = try ready()
        if !now.isEmpty || objects.isEmpty || timeout == .zero { return now }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for object in objects {
                group.addTask { try await object.waitUntilReady() }
            }
            if let timeout {
                group.addTask { try await Task.sleep(for: timeout) }
            }
            // The first to finish (ready, or the timeout) ends the wait.
            try await group.next()
            group.cancelAll()
        }
        try Task.checkCancellation()
        return try ready()
    }
}
