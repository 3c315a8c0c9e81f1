#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MessagePack
import Synchronization

/// A child's event loop: one thread that runs the entry's async code (it is the entry task's
/// executor) and, whenever that code waits, reads the channel and hands each frame to its
/// waiter on the same thread. A request to a worker therefore costs no thread hop inside the
/// child: the frame is read, the mailbox's waiting iterator resumed, the reply written, all on
/// this thread (NOTES-linux.md: each wake-up of another thread roughly doubles a round trip).
///
/// Jobs enqueued from other threads (an unstructured `Task` the worker started, a timeout)
/// wake the loop through a pipe.
// Unchecked: the plain `var`s (mailbox, its waiter, flags) are touched on the loop thread only; the rest are Mutex/Atomic.
final class ChildRunLoop: TaskExecutor, @unchecked Sendable {
    private enum Work: Sendable {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    /// Requests and messages waiting for the entry's code. With flow control (the supervisor
    /// agreed to it in its welcome) the loop always reads the channel, and a mailbox that
    /// reaches this many frames asks the supervisor to `pause` them (`resume` once it drained to
    /// a quarter): replies, errors and control frames are still read and dispatched at once,
    /// so a handler waiting for an answer never waits behind the requests that wait for it.
    /// Without flow control the loop stops reading while the mailbox is full (version 1).
    static let mailboxCapacity = 256
    /// Where a paused mailbox asks for `resume`.
    static let mailboxResumeMark = mailboxCapacity / 4

    private let session: ChildSession
    private let queue = Mutex<[Work]>([])
    private let wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
    private let thread = Mutex<pthread_t?>(nil)
    /// The loop's thread as a number, read without a lock by ``wakeToFlush()``.
    private let loopThread = Atomic<UInt>(0)
    /// A wake-up to flush was sent and the loop has not flushed since.
    private let flushRequested = Atomic<Bool>(false)

    // Loop-thread state.
    private var mailbox: [FrameBody] = []
    private var mailboxHead = 0
    private var mailboxWaiter: CheckedContinuation<FrameBody?, any Error>?
    private var inputEnded = false
    /// The mailbox asked the supervisor to pause and has not resumed yet.
    private var mailboxPauseSent = false
    private var mailboxCount: Int { mailbox.count - mailboxHead }
    /// Whether the loop reads the channel now: always with flow control, else while the mailbox has room.
    private var mayRead: Bool { session.speaksFlowControl || mailboxCount < Self.mailboxCapacity }
    private var inputError: (any Error)?
    private var finished = false

    init(session: ChildSession) throws {
        self.session = session
        wake = try FileDescriptor.pipe(nonBlocking: true)
    }

    deinit {
        try? wake.readEnd.close()
        try? wake.writeEnd.close()
    }

    // MARK: TaskExecutor

    func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    private func submit(_ work: Work) {
        queue.withLock { $0.append(work) }
        if !isOnLoop {
            var byte: UInt8 = 1
            _ = withUnsafeBytes(of: &byte) { wake.writeEnd._write($0) }
        }
    }

    private var isOnLoop: Bool { thread.withLock { $0.map(OSThread.isCurrent) ?? false } }

    /// Runs `body` on the loop now if called there, else as soon as the loop gets to it.
    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if isOnLoop { body() } else { submit(.closure(body)) }
    }

    // MARK: running

    /// Runs `body` as a task on this loop's thread until it returns; the loop then stops.
    func run(_ body: @escaping @Sendable () async -> Int32) async throws -> Int32 {
        try OSThread.start(name: "mp-child-loop") { [self] in loop() }
        let task = Task(executorPreference: self) { () async -> Int32 in
            let code = await body()
            self.finished = true   // on the loop thread: the task ran here
            return code
        }
        return await task.value
    }

    /// Whether the loop looks for input a little before it sleeps (touched by the loop only).
    private nonisolated(unsafe) var spin = SpinPolicy()

    private func loop() {
        thread.withLock { $0 = OSThread.current }
        loopThread.store(Self.currentThreadNumber, ordering: .releasing)
        let executor = asUnownedTaskExecutor()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let work = queue.withLock { queue -> [Work] in defer { queue.removeAll(keepingCapacity: true) }; return queue }
            for item in work {
                switch item {
                case .job(let job): job.runSynchronously(on: executor)
                case .closure(let body): body()
                }
            }
            if !work.isEmpty { continue }
            if finished { return }
            let readInput = !inputEnded && mayRead
            // Frames already read but not dispatched: the first request often arrives in the
            // same read as the welcome, and frames wait here while the mailbox was full.
            if readInput, dispatchBuffered() { continue }
            // About to wait: frames the code queued (queue puts, reports) go out now.
            flushRequested.store(false, ordering: .relaxed)
            try? session.flushPendingOutput()
            let descriptors = readInput ? [wake.readEnd, session.input] : [wake.readEnd]
            // A short spin first (SpinPolicy): a request's reply, or the next request of a
            // busy peer, then finds this thread awake.
            var spun: [PollEvents]?
            if spin.shouldSpin() {
                spun = FileDescriptor.spinPoll(descriptors, for: .readable, window: SpinPolicy.window)
                spin.record(found: spun != nil)
            }
            guard let events = try? spun ?? FileDescriptor.poll(descriptors, for: .readable, timeout: nil) else { continue }
            if !events[0].isEmpty {
                _ = chunk.withUnsafeMutableBytes { wake.readEnd._read(into: $0) }
            }
            if readInput, !events[1].isEmpty {
                readChannel(into: &chunk)
            }
        }
    }

    /// Dispatches every whole frame already buffered (as far as the mailbox has room);
    /// returns whether it dispatched any.
    private func dispatchBuffered() -> Bool {
        var dispatched = false
        do {
            while mayRead, let body = try session.nextBufferedFrame() {
                dispatch(body)
                dispatched = true
            }
        } catch {
            endInput(error)
            return true
        }
        return dispatched
    }

    private func readChannel(into chunk: inout [UInt8]) {
        do {
            let count = try chunk.withUnsafeMutableBytes { try session.input.read(into: $0) }
            if count == 0 {
                try session.finishReading()
                endInput(nil)
                return
            }
            chunk.withUnsafeBytes { session.appendReceived(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            _ = dispatchBuffered()
        } catch {
            endInput(error)
        }
    }

    private func dispatch(_ body: FrameBody) {
        switch body.envelope.kind {
        case .reply, .error:
            session.resolveReply(body)
        case .pause, .resume:
            session.sendGate.set(paused: body.envelope.kind == .pause)
        default:
            if let handler = session.serviceHandler(for: body.envelope.kind) {
                handler(body)   // a service's notice (a queue closed): never the mailbox's
                return
            }
            if let waiter = mailboxWaiter {
                mailboxWaiter = nil
                waiter.resume(returning: body)
            } else {
                mailbox.append(body)
                if session.speaksFlowControl, !mailboxPauseSent, mailboxCount >= Self.mailboxCapacity {
                    mailboxPauseSent = true
                    sendFlow(.pause)
                }
            }
        }
    }

    /// Tells the supervisor to hold (`pause`) or deliver again (`resume`) this mailbox's
    /// requests and messages.
    private func sendFlow(_ kind: Envelope.Kind) {
        try? session.send(Envelope(kind, from: session.id, to: Envelope.supervisor), MessagePackValue.nil)
    }

    /// On the loop's thread: reads and dispatches what already arrived on the channel, without
    /// waiting (a sender that never suspends still sees a `pause`). Elsewhere the loop is free
    /// to read by itself, and this does nothing.
    func readArrivedInput() {
        guard isOnLoop, !inputEnded, mayRead else { return }
        guard let events = try? FileDescriptor.poll([session.input], for: .readable, timeout: .zero), !events[0].isEmpty else { return }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        readChannel(into: &chunk)
    }

    private func endInput(_ error: (any Error)?) {
        inputEnded = true
        inputError = error
        session.channelEnded()
        if let waiter = mailboxWaiter {
            mailboxWaiter = nil
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    /// Frames were queued with ``ChildSession/sendLater(flushIfFull:_:)``: if that happened on
    /// another thread (a detached task), wakes the loop, which writes them before it waits again.
    /// On the loop's own thread it costs an atomic load: the loop flushes before it waits anyway.
    func wakeToFlush() {
        guard Self.currentThreadNumber != loopThread.load(ordering: .acquiring) else { return }
        guard !flushRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { wake.writeEnd._write($0) }
    }

    /// The calling thread's `pthread_t` as a number (an unsigned long in glibc).
    private static var currentThreadNumber: UInt {
        #if canImport(Glibc)
        OSThread.current
        #else
        unsafeBitCast(OSThread.current, to: UInt.self)
        #endif
    }

    // MARK: the mailbox

    /// The next frame for the entry's code, in arrival order; nil once the channel ended.
    func nextMailboxFrame() async throws -> FrameBody? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<FrameBody?, any Error>) in
            onLoop { [self] in
                if mailboxHead < mailbox.count {
                    let body = mailbox[mailboxHead]
                    mailboxHead += 1
                    if mailboxHead == mailbox.count { mailbox.removeAll(keepingCapacity: true); mailboxHead = 0 }
                    if mailboxPauseSent, mailboxCount <= Self.mailboxResumeMark {
                        mailboxPauseSent = false
                        sendFlow(.resume)
                    }
                    continuation.resume(returning: body)
                } else if inputEnded {
                    if let inputError { continuation.resume(throwing: inputError) } else { continuation.resume(returning: nil) }
                } else {
                    mailboxWaiter = continuation
                }
            }
        }
    }
}
