import Synchronization

/// One thread blocked in `poll` on every descriptor someone watches, plus a wake pipe for
/// changes to that set: the runtime's only poller of that kind (the supervisor's reaper and
/// the async forms of `Connection` and `ParentProcess.join` each hold one; a child's run
/// loop is not one: it runs jobs).
///
/// A watch is one-shot: its handler runs exactly once, with ``Outcome/ready`` (on the
/// watcher's thread) when the descriptor has one of the events (or an error or hang-up,
/// which a read or write then reports), ``Outcome/timedOut`` at its deadline,
/// ``Outcome/notOpen`` if the descriptor was closed while watched (`POLLNVAL`: never a
/// hang), or, from the caller's thread, ``Outcome/cancelled`` (``cancel(_:)``) or
/// ``Outcome/interrupted`` (``interrupt(_:)``). The watcher never reads, writes or closes a
/// watched descriptor: it stays the caller's, and must stay open until its handler ran.
final class DescriptorWatcher: Sendable {
    enum Outcome: Sendable, Equatable { case ready, timedOut, cancelled, interrupted, notOpen }

    /// Names one watch, for ``cancel(_:)``.
    struct Token: Hashable, Sendable { fileprivate let value: UInt64 }

    private struct Watch: Sendable {
        let descriptor: FileDescriptor
        let events: PollEvents
        let deadline: ContinuousClock.Instant?
        let handler: @Sendable (Outcome) -> Void
    }

    /// Taking a watch out of this table is what ends it: whoever removes it runs its handler.
    private let watches = Mutex<(next: UInt64, table: [UInt64: Watch])>((0, [:]))
    private let wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
    /// Set by ``stop()``; the thread ends and closes nothing (``deinit`` does).
    private let stopping = Atomic<Bool>(false)

    /// Opens the wake pipe and starts the thread (`name` is for messages).
    init(name: String) throws(SystemError) {
        wake = try FileDescriptor.pipe(nonBlocking: true)
        do {
            try OSThread.start(name: name) { [self] in run() }
        } catch {
            try? wake.readEnd.close()
            try? wake.writeEnd.close()
            throw error
        }
    }

    deinit {
        // The thread holds this object until it ends, so nobody pokes the pipe any more.
        try? wake.readEnd.close()
        try? wake.writeEnd.close()
    }

    /// Calls `handler` once, when `descriptor` has one of `events`, at `deadline`, or when
    /// the watch is cancelled or interrupted (see the type's summary).
    @discardableResult
    func watch(_ descriptor: FileDescriptor, for events: PollEvents, until deadline: ContinuousClock.Instant? = nil,
               _ handler: @escaping @Sendable (Outcome) -> Void) -> Token {
        let key = watches.withLock { state in
            state.next += 1
            state.table[state.next] = Watch(descriptor: descriptor, events: events, deadline: deadline, handler: handler)
            return state.next
        }
        poke()
        return Token(value: key)
    }

    /// Ends the watch with ``Outcome/cancelled`` unless it already ended; returns whether it
    /// was still pending.
    @discardableResult
    func cancel(_ token: Token) -> Bool { finish(token.value, .cancelled) }

    /// Ends every watch on one of `descriptors` with ``Outcome/interrupted`` (their owner is
    /// closing them).
    func interrupt(_ descriptors: [FileDescriptor]) {
        let hit = watches.withLock { $0.table.filter { descriptors.contains($0.value.descriptor) }.map(\.key) }
        for key in hit { finish(key, .interrupted) }
    }

    /// Waits on the calling task until `descriptor` has one of `events`, `deadline` passes,
    /// the task is cancelled, or the watch is interrupted; the thread pool is never blocked.
    func wait(for descriptor: FileDescriptor, _ events: PollEvents,
              until deadline: ContinuousClock.Instant?) async -> Outcome {
        let token = Mutex<Token?>(nil)
        let outcome: TimedOutcome<Outcome> = await TimedWait.wait(onEnd: { [self] outcome in
            // A cancelled task's watch is taken out here; its handler then finds it gone.
            if case .cancelled = outcome, let token = token.withLock({ $0 }) { cancel(token) }
        }) { once in
            // The deadline is kept by this thread's poll, not by a timer.
            let registered = watch(descriptor, for: events, until: deadline) { once.resume(returning: $0) }
            token.withLock { $0 = registered }
            if once.isFinished { cancel(registered) }   // cancelled before the watch existed
        }
        switch outcome {
        case .value(let outcome): return outcome
        case .timedOut, .cancelled: return .cancelled
        }
    }

    /// Ends the thread. Pending watches are dropped without their handler: stop a watcher
    /// once nobody waits on it.
    func stop() {
        stopping.store(true, ordering: .releasing)
        poke()
    }

    /// The number of watches still pending (for diagnostics and tests).
    var pendingCount: Int { watches.withLock { $0.table.count } }

    @discardableResult
    private func finish(_ key: UInt64, _ outcome: Outcome) -> Bool {
        guard let watch = watches.withLock({ $0.table.removeValue(forKey: key) }) else { return false }
        watch.handler(outcome)
        return true
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { wake.writeEnd._write($0) }
    }

    private func run() {
        let clock = ContinuousClock()
        var drain = [UInt8](repeating: 0, count: 64)
        while !stopping.load(ordering: .acquiring) {
            let current = watches.withLock { Array($0.table) }
            let timeout = current.compactMap(\.value.deadline).min().map { max(.zero, clock.now.duration(to: $0)) }
            let entries = [(wake.readEnd, PollEvents.readable)] + current.map { ($0.value.descriptor, $0.value.events) }
            guard case .success(let events) = FileDescriptor._poll(entries, timeout: timeout) else { continue }
            if !events[0].isEmpty {
                _ = drain.withUnsafeMutableBytes { wake.readEnd._read(into: $0) }
            }
            let now = clock.now
            for (index, (key, watch)) in current.enumerated() {
                let happened = events[index + 1]
                if happened.contains(.invalid) {
                    finish(key, .notOpen)
                } else if !happened.isEmpty {
                    finish(key, .ready)
                } else if let deadline = watch.deadline, deadline <= now {
                    finish(key, .timedOut)
                }
            }
        }
    }
}
