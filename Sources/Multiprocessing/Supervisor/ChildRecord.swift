import MessagePack
import NIOCore
import Synchronization

/// One child in the supervisor: its identity and status, its handshake, the frames of core
/// kinds it sends, and the waits for its answers and its exit; its write side is a
/// ``ChildWriter``, its flow state a ``ChildFlow``. A child is a local process (its pidfd in
/// ``process``; it ends when the reaper sees it exit) or a remote worker (``process`` nil: a
/// connection accepted by a `WorkerServer`; it ends with its connection, with the status its
/// goodbye gave, else ``TerminationStatus/disconnected``; "signals" close the connection). Owned by the supervisor's event loop:
/// every method that is not marked otherwise runs on it (`loop.execute`), so the state needs
/// no lock; what other threads read (the status) sits behind a mutex.
final class ChildRecord: ChildLink, ServicePeer, @unchecked Sendable {
    let id: UInt64
    /// Its process id: a local child's from its spawn, a remote worker's (on its own host) from
    /// its hello, 0 before that.
    var pid: Int32 { sharedPID.load(ordering: .relaxed) }
    /// The process, through its pidfd (owned here; signals reach its whole group); nil for a
    /// remote worker, which has no process on this host.
    let process: ChildHandle?
    /// Whether it is a remote worker (no local process: its connection is its life).
    var isRemote: Bool { process == nil }
    let name: String
    let entry: String?
    let daemon: Bool
    let loop: any EventLoop
    /// Whether callers of ``request(_:timeout:)`` look for the reply before they suspend.
    private let answerSpin = SpinGate()
    /// Requests to it awaiting their replies: a caller spins only when its request is the only
    /// one (a lone round trip waits for its reply; with several in flight the replies come
    /// anyway, and a spinning caller would take a CPU from the workers).
    private let requestsInFlight = Atomic<Int>(0)
    let maxFrameSize: Int
    /// The supervisor that started it (it keeps the supervisor alive while it is known).
    let supervisor: SupervisorCore
    /// Called on the loop once the child exited and its channel ended (the supervisor forgets it).
    var onFinished: (@Sendable (ChildRecord) -> Void)?
    /// Called on the loop when this child asks to monitor the worker with the given id.
    var onMonitor: (@Sendable (ChildRecord, UInt64) -> Void)?
    /// Called on the loop when this child exited, with its status (monitors are told).
    var onExit: (@Sendable (ChildRecord, TerminationStatus) -> Void)?

    // Loop-confined state.
    /// The writing side of its channel.
    let writer: ChildWriter
    /// Its channel (set by the spawn before the first read).
    var channel: (any Channel)? {
        get { writer.channel }
        set { writer.channel = newValue }
    }
    /// False once its channel was read to the end.
    var channelOpen: Bool { writer.isOpen }
    /// Requests and messages held for this child, and whether it is paused as a sender.
    let flow = ChildFlow()
    /// The capabilities agreed in the handshake (the welcome's list).
    private var capabilities: Set<String> = []
    /// The supervisor's read end of the channel (NIO owns it): looked at, never read, by
    /// ``SupervisorCore/spinForAnswers()``.
    var readDescriptor: FileDescriptor?
    private var handshakeDone = false
    private var handshakeWaiter: CheckedContinuation<Void, any Error>?
    private var waiters: [UInt64: ResumeOnce<Result<FrameBody, any Error>>] = [:]
    private var exitWaiters: [UInt64: CheckedContinuation<TerminationStatus?, any Error>] = [:]
    private var exitedStatus: TerminationStatus?
    private var disconnectReason: String?
    /// The status its goodbye announced (a remote worker's exit status).
    private var goodbyeStatus: Int32?
    /// The answer to correlation 1 (a function's result) arrives once; it is kept for `result`.
    private var functionResult: Result<FrameBody, any Error>?
    private var resultWaiters: [UInt64: CheckedContinuation<FrameBody, any Error>] = [:]
    /// The waits' timeouts by token (the handshake's under 0), cancelled when their wait ends:
    /// a pending timer holds this record (a 30 s handshake timer kept 30 s of records alive).
    private var timers: [UInt64: Scheduled<Void>] = [:]
    private static let handshakeTimer: UInt64 = 0

    // Shared state.
    private let sharedStatus = Mutex<TerminationStatus?>(nil)
    private let tokens = Atomic<UInt64>(2)   // 1 is the function argument's correlation id
    private let sharedPID: Atomic<Int32>

    /// A local child (`process` its pidfd) or, with `process` nil, a remote worker.
    init(id: UInt64, pid: Int32, process: ChildHandle?, name: String, entry: String?, daemon: Bool, supervisor: SupervisorCore) {
        self.id = id
        self.sharedPID = Atomic(pid)
        self.process = process
        self.name = name
        self.entry = entry
        self.daemon = daemon
        self.supervisor = supervisor
        self.loop = supervisor.loop
        self.maxFrameSize = supervisor.maxFrameSize
        self.writer = ChildWriter(maxFrameSize: supervisor.maxFrameSize)
    }

    /// Whether the child and the supervisor agreed on `capability` (on the loop).
    func speaks(_ capability: String) -> Bool { capabilities.contains(capability) }

    /// How it ended, once it did (any thread).
    var status: TerminationStatus? { sharedStatus.withLock { $0 } }

    func nextToken() -> UInt64 { tokens.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Whether the handshake completed (on the loop).
    var isWelcomed: Bool { handshakeDone }

    // MARK: events (on the loop)

    func received(_ body: FrameBody) {
        loop.preconditionInEventLoop()
        let envelope = body.envelope
        // After the welcome every frame carries the child's id: a reply from another source is
        // never taken as the answer to this child's request.
        if handshakeDone, envelope.source != id {
            refuseWrongSource(envelope)
            return
        }
        switch envelope.kind {
        case .hello where !handshakeDone:
            do {
                let hello = try body.decodePayload(Hello.self)
                if isRemote { sharedPID.store(hello.pid, ordering: .relaxed) }
                let welcome = try Welcome(answering: hello, id: id, capabilities: supervisor.capabilities, maxFrameSize: maxFrameSize)
                capabilities = Set(welcome.capabilities)
                flow.speaksFlowControl = capabilities.contains(FlowControl.capability)
                write(Envelope(.welcome, from: Envelope.supervisor, to: id), welcome)
                handshakeDone = true
                supervisor.metrics.childrenStarted.increment()
                cancelTimer(Self.handshakeTimer)
                handshakeWaiter?.resume()
                handshakeWaiter = nil
            } catch {
                write(envelope.answer(.error), RemoteError(error))
                refuseHandshake(reason: "failed the handshake: \(error)")
            }
        case .reply, .error:
            let correlation = envelope.correlation
            if correlation == ChildSession.argumentCorrelation, functionResult == nil {
                functionResult = .success(body)
                for (token, waiter) in resultWaiters {
                    cancelTimer(token)
                    waiter.resume(returning: body)
                }
                resultWaiters.removeAll()
            } else if let waiter = waiters.removeValue(forKey: correlation) {
                waiter.resume(returning: .success(body))
            } else {
                report("sent a \(envelope.kind) for correlation \(correlation), which no request awaits (dropped)")
            }
        case .goodbye:
            goodbyeStatus = (try? body.decodePayload(Goodbye.self))?.status
        case .pause, .resume:
            mailboxFlow(envelope.kind)
        case .monitor:
            do {
                let target = try body.decodePayload(Monitor.self).id
                write(envelope.answer(.reply), MessagePackValue.nil)
                onMonitor?(self, target)
            } catch {
                write(envelope.answer(.error), RemoteError(error))
            }
        case .message where envelope.destination == Envelope.supervisor:
            break   // nothing in the parent reads one-way messages addressed to it yet
        default:
            if Envelope.Kind.version1.contains(envelope.kind) {
                if envelope.kind == .request {
                    write(envelope.answer(.error), RemoteError.unknownKind(envelope.kind))
                }
            } else {
                refuseUnknownKind(envelope)
            }
        }
    }

    /// Ends the conversation with a child that broke the protocol: reported on standard error,
    /// channel closed, process killed (it can no longer be talked to).
    func disconnect(reason: String) {
        loop.preconditionInEventLoop()
        guard disconnectReason == nil else { return }
        disconnectReason = reason
        RuntimeLog.error("[supervisor] \(name) (pid \(pid)) disconnected: it \(reason)", metadata: ["worker": "\(name)", "pid": "\(pid)"])
        channel?.close(promise: nil)
        send(.kill)
        channelEnded()
    }

    /// Ends the conversation with a child refused at its handshake, so that it can read why:
    /// the error frame is already written; the supervisor's writing side closes (the child
    /// reads the frame, then end of input) and the child is killed a moment later if it has
    /// not exited by then.
    func refuseHandshake(reason: String) {
        loop.preconditionInEventLoop()
        guard disconnectReason == nil else { return }
        disconnectReason = reason
        report("disconnected: it \(reason)")
        channel?.close(mode: .output, promise: nil)
        loop.scheduleTask(in: Self.refusalGrace) { [self] in
            if exitedStatus == nil { send(.kill) }
        }
    }

    /// How long a refused child has to read the error frame and exit before it is killed.
    static let refusalGrace: TimeAmount = .seconds(1)

    func channelEnded() {
        loop.preconditionInEventLoop()
        guard channelOpen else { return }
        dropHeld()
        writer.ended()
        // A remote worker's connection is its life: it ended now, as its goodbye said.
        if isRemote, exitedStatus == nil {
            channel?.close(promise: nil)
            exited(goodbyeStatus.map { .exited($0) } ?? .disconnected)
        }
        finishIfDone()
    }

    func exited(_ status: TerminationStatus) {
        loop.preconditionInEventLoop()
        exitedStatus = status
        sharedStatus.withLock { $0 = status }
        if handshakeDone { supervisor.metrics.exited(status) }
        onExit?(self, status)
        onExit = nil
        for (token, waiter) in exitWaiters {
            cancelTimer(token)
            waiter.resume(returning: status)
        }
        exitWaiters.removeAll()
        finishIfDone()
    }

    /// Once the child exited and everything it wrote was read, whoever still waits for an
    /// answer learns that none will come.
    private func finishIfDone() {
        guard let status = exitedStatus, !channelOpen else { return }
        let failure = endError(status)
        if let waiter = handshakeWaiter {
            handshakeWaiter = nil
            waiter.resume(throwing: failure)
        }
        for waiter in waiters.values { waiter.resume(returning: .failure(failure)) }
        waiters.removeAll()
        if functionResult == nil { functionResult = .failure(failure) }
        for waiter in resultWaiters.values { waiter.resume(throwing: failure) }
        resultWaiters.removeAll()
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
        channel?.close(promise: nil)
        process?.close()
        onFinished?(self)
        onFinished = nil
        onMonitor = nil
    }

    private func endError(_ status: TerminationStatus) -> ProcessError {
        if let disconnectReason {
            return ProcessError(.disconnected, "\(name) was disconnected: it \(disconnectReason)", status: status)
        }
        if !handshakeDone {
            if status == .exited(ChildExitCode.unknownEntry) {
                return ProcessError(.unknownEntry, "\(name): the executable does not register the entry \"\(entry ?? "?")\" (see its standard error)", status: status)
            }
            return ProcessError(.handshakeFailed, "\(name) \(status) before its handshake", status: status)
        }
        return ProcessError(.childExited, "\(name) \(status) before it answered", status: status)
    }

    /// Cancels the timeout of the wait `token`, if it has one (on the loop).
    private func cancelTimer(_ token: UInt64) {
        timers.removeValue(forKey: token)?.cancel()
    }

    /// Runs `body` on the loop: at once when called there (a task on
    /// ``SupervisorExecutor``), so a request from such a task costs no queued job.
    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if loop.inEventLoop { body() } else { loop.execute(body) }
    }

    // MARK: waiting (any task)

    /// Returns once the child said hello and was welcomed.
    func handshake(timeout: Duration) async throws {
        let token = nextToken()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            loop.execute { [self] in
                if handshakeDone { continuation.resume(); return }
                if let status = exitedStatus, !channelOpen { continuation.resume(throwing: endError(status)); return }
                handshakeWaiter = continuation
                timers[Self.handshakeTimer] = loop.scheduleTask(in: .nanoseconds(Int64(timeout.nanoseconds))) { [self] in
                    timers[Self.handshakeTimer] = nil
                    guard let waiter = handshakeWaiter else { return }
                    handshakeWaiter = nil
                    // The whole group: a child that never said hello may have started others.
                    send(.kill)
                    waiter.resume(throwing: ProcessError(.timedOut, "\(name) did not complete its handshake within \(timeout)"))
                }
            }
        }
        _ = token
    }

    /// Whether a request with `correlation` still waits for its reply (on the loop). Tests use
    /// it to order a frame of their own between a request's registration and its delivery.
    func awaitsReply(to correlation: UInt64) -> Bool { waiters[correlation] != nil }

    /// Sends a request with `payload` and waits for its reply or error envelope.
    func request<P: Encodable & Sendable>(_ payload: P, timeout: Duration?) async throws -> FrameBody {
        let correlation = nextToken()
        // The user's payload is encoded here, on the calling task, never on the loop.
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do {
            try writer.append(Envelope(.request, from: Envelope.supervisor, to: id, correlation: correlation), payload: payload)
        } catch {
            throw ProcessError.sizeChecked(error, "a request", limit: maxFrameSize)
        }
        let frame = writer.drain { ByteBufferAllocator().buffer(bytes: $0) }
        let alone = requestsInFlight.wrappingAdd(1, ordering: .relaxed).oldValue == 0
        defer { requestsInFlight.wrappingSubtract(1, ordering: .relaxed) }
        let outcome: TimedOutcome<Result<FrameBody, any Error>> = await TimedWait.wait(
            until: timeout.map { ContinuousClock.now.advanced(by: $0) }, timer: loop.timedWaitTimer,
            spin: alone && !loop.inEventLoop ? answerSpin : nil,   // never on the loop: it delivers the reply
            onEnd: { [self] outcome in   // timed out or cancelled: forget the waiter, on the loop
                if case .value = outcome { return }
                onLoop { [self] in _ = waiters.removeValue(forKey: correlation) }
            }
        ) { once in
            onLoop { [self] in
                if once.isFinished { return }
                if let status = exitedStatus, !channelOpen { once.resume(returning: .failure(endError(status))); return }
                if disconnectReason != nil || !channelOpen {
                    once.resume(returning: .failure(ProcessError(.disconnected, "\(name) has no open channel")))
                    return
                }
                waiters[correlation] = once
                // Held like any request while the child's mailbox is paused; past the held
                // budget this call waits, on the loop, for it to drain.
                flow.whenWithinBudget { [self] in
                    var frame = frame
                    deliverHeldKind(&frame, from: nil)
                    supervisor.spinForAnswersSoon()
                }
            }
        }
        switch outcome {
        case .value(let result): return try result.get()
        case .timedOut: throw ProcessError(.timedOut, "\(name) did not answer within \(timeout ?? .zero)")
        case .cancelled: throw CancellationError()
        }
    }

    /// Sends a request without waiting, registered and written in call order (see
    /// ``ChildLink/requestInOrder(_:completion:)``).
    func requestInOrder<P: Encodable & Sendable>(_ payload: P, completion: @escaping @Sendable (Result<FrameBody, any Error>) -> Void) {
        let correlation = nextToken()
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do {
            try writer.append(Envelope(.request, from: Envelope.supervisor, to: id, correlation: correlation), payload: payload)
        } catch {
            return completion(.failure(ProcessError.sizeChecked(error, "a request", limit: maxFrameSize)))
        }
        let frame = writer.drain { ByteBufferAllocator().buffer(bytes: $0) }
        onLoop { [self] in
            if let status = exitedStatus, !channelOpen { return completion(.failure(endError(status))) }
            if disconnectReason != nil || !channelOpen {
                return completion(.failure(ProcessError(.disconnected, "\(name) has no open channel")))
            }
            waiters[correlation] = ResumeOnce { outcome in
                if case .value(let result) = outcome { completion(result) }
            }
            flow.whenWithinBudget { [self] in
                var frame = frame
                deliverHeldKind(&frame, from: nil)
                supervisor.spinForAnswersSoon()
            }
        }
    }

    /// Sends a function's argument: the first frame after the handshake, a request with
    /// correlation id 1, whose reply ``functionReply()`` waits for. Encoding errors are thrown
    /// here, before anything is sent (a value above the maximum frame as
    /// ``ProcessError/Code/messageTooLarge``).
    func sendArgument<P: Encodable & Sendable>(_ payload: P) throws {
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do {
            try writer.append(Envelope(.request, from: Envelope.supervisor, to: id, correlation: ChildSession.argumentCorrelation), payload: payload)
        } catch {
            throw ProcessError.sizeChecked(error, "an argument", limit: maxFrameSize)
        }
        let bytes = writer.take()
        loop.execute { [self] in
            var writer = FrameWriter(maxFrameSize: maxFrameSize)
            try? bytes.withUnsafeBytes { try writer.append(body: UnsafeRawBufferPointer(rebasing: $0[4...])) }
            writeFrames(&writer)
        }
    }

    /// The reply to the function argument: the function's result or its error envelope.
    func functionReply(timeout: Duration? = nil) async throws -> FrameBody {
        let token = nextToken()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<FrameBody, any Error>) in
                loop.execute { [self] in
                    if let functionResult { continuation.resume(with: functionResult); return }
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()); return }
                    resultWaiters[token] = continuation
                    if let timeout {
                        timers[token] = loop.scheduleTask(in: .nanoseconds(Int64(timeout.nanoseconds))) { [self] in
                            timers[token] = nil
                            resultWaiters.removeValue(forKey: token)?.resume(
                                throwing: ProcessError(.timedOut, "\(name) did not return its result within \(timeout)"))
                        }
                    }
                }
            }
        } onCancel: {
            loop.execute { [self] in
                cancelTimer(token)
                resultWaiters.removeValue(forKey: token)?.resume(throwing: CancellationError())
            }
        }
    }

    /// Waits until the child exited: its status, or nil when `timeout` passed first.
    func waitForExit(timeout: Duration?) async throws -> TerminationStatus? {
        if let status { return status }
        let token = nextToken()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TerminationStatus?, any Error>) in
                loop.execute { [self] in
                    if let exitedStatus { continuation.resume(returning: exitedStatus); return }
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()); return }
                    exitWaiters[token] = continuation
                    if let timeout {
                        timers[token] = loop.scheduleTask(in: .nanoseconds(Int64(timeout.nanoseconds))) { [self] in
                            timers[token] = nil
                            exitWaiters.removeValue(forKey: token)?.resume(returning: nil)
                        }
                    }
                }
            }
        } onCancel: {
            loop.execute { [self] in
                cancelTimer(token)
                exitWaiters.removeValue(forKey: token)?.resume(throwing: CancellationError())
            }
        }
    }
}
