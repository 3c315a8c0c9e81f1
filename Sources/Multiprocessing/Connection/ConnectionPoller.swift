import Synchronization

/// Where the async forms of ``Connection`` wait, so that no wait ever blocks Swift's
/// cooperative thread pool: one process-wide thread blocked in `poll` on every descriptor an
/// async receive or send waits for, plus a wake pipe for changes to that set (the pattern of
/// the supervisor's ``Reaper``). Started by the first async wait that has to wait.
///
/// A wait ends when its descriptor is ready (readable: data or end of file; writable: room
/// in the pipe), at its deadline, when its task is cancelled, or when the connection is
/// closed (``interrupt(_:)``). The poller only says "ready"; the reads and writes themselves
/// run on the waiting task after it resumes.
final class ConnectionPoller: Sendable {
    enum Outcome: Sendable { case ready, timedOut, interrupted, cancelled }

    /// One wait. Its own lock settles the race between the poller, cancellation and
    /// registration: whoever moves it to `.done` first resumes the continuation, once.
    private final class Wait: Sendable {
        enum State { case pending, waiting(CheckedContinuation<Outcome, Never>), done(Outcome) }
        let descriptor: FileDescriptor
        let deadline: ContinuousClock.Instant?
        let state = Mutex<State>(.pending)

        init(_ descriptor: FileDescriptor, _ deadline: ContinuousClock.Instant?) {
            self.descriptor = descriptor
            self.deadline = deadline
        }

        /// Ends the wait with `outcome` unless it already ended; resumes a waiting task.
        func finish(_ outcome: Outcome) {
            let continuation: CheckedContinuation<Outcome, Never>? = state.withLock { state in
                switch state {
                case .done: return nil
                case .pending: state = .done(outcome); return nil
                case .waiting(let continuation): state = .done(outcome); return continuation
                }
            }
            continuation?.resume(returning: outcome)
        }
    }

    private let waits = Mutex<[ObjectIdentifier: Wait]>([:])
    private let wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor)

    private static let instance = Mutex<ConnectionPoller?>(nil)

    /// The process's poller, started on first use.
    static func shared() throws(ConnectionError) -> ConnectionPoller {
        try instance.withLock { (instance) throws(ConnectionError) -> ConnectionPoller in
            if let instance { return instance }
            do throws(SystemError) {
                let poller = try ConnectionPoller()
                instance = poller
                return poller
            } catch {
                throw ConnectionError.system(error, "starting the connection poller thread")
            }
        }
    }

    /// The poller if some async wait started it (nobody waits in it otherwise).
    static var running: ConnectionPoller? { instance.withLock { $0 } }

    private init() throws(SystemError) {
        wake = try FileDescriptor.pipe(nonBlocking: true)
        do {
            try OSThread.start(name: "mp-connections") { [self] in run() }
        } catch {
            try? wake.readEnd.close()
            try? wake.writeEnd.close()
            throw error
        }
    }

    /// Waits until `descriptor` is ready (a pipe's read end: readable or at end of file; its
    /// write end: writable or broken), `deadline` passes, the task is cancelled, or
    /// ``interrupt(_:)`` names the descriptor. The descriptor must stay open until it returns.
    func wait(for descriptor: FileDescriptor, until deadline: ContinuousClock.Instant?) async -> Outcome {
        let wait = Wait(descriptor, deadline)
        let key = ObjectIdentifier(wait)
        waits.withLock { $0[key] = wait }
        poke()
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let finished: Outcome? = wait.state.withLock { state in
                    if case .done(let outcome) = state { return outcome }
                    state = .waiting(continuation)
                    return nil
                }
                if let finished { continuation.resume(returning: finished) }
            }
        } onCancel: {
            wait.finish(.cancelled)
        }
        waits.withLock { _ = $0.removeValue(forKey: key) }
        return outcome
    }

    /// Ends every wait on one of `descriptors` with ``Outcome/interrupted`` (the connection
    /// was closed while a task waited on it).
    func interrupt(_ descriptors: [FileDescriptor]) {
        let hit = waits.withLock { $0.values.filter { descriptors.contains($0.descriptor) } }
        for wait in hit { wait.finish(.interrupted) }
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { wake.writeEnd._write($0) }
    }

    private func run() {
        let clock = ContinuousClock()
        var drain = [UInt8](repeating: 0, count: 64)
        while true {
            // Waits that ended (cancelled, interrupted) stay listed until their task removes
            // them; polling them once more is harmless (their descriptors are still open).
            let current = waits.withLock { Array($0.values) }.filter { wait in
                wait.state.withLock { if case .done = $0 { false } else { true } }
            }
            let nearest = current.compactMap(\.deadline).min()
            let timeout = nearest.map { max(.zero, clock.now.duration(to: $0)) }
            // A pipe end is one-directional: asking both events of each covers reads and writes.
            let descriptors = [wake.readEnd] + current.map(\.descriptor)
            guard case .success(let events) = FileDescriptor._poll(descriptors, for: [.readable, .writable], timeout: timeout) else {
                continue
            }
            if !events[0].isEmpty {
                _ = drain.withUnsafeMutableBytes { wake.readEnd._read(into: $0) }
            }
            let now = clock.now
            for (index, wait) in current.enumerated() {
                if !events[index + 1].isEmpty {
                    wait.finish(.ready)
                } else if let deadline = wait.deadline, deadline <= now {
                    wait.finish(.timedOut)
                }
            }
        }
    }
}
