/// An Erlang/OTP-style supervisor: starts its children in order, restarts them by their
/// ``RestartPolicy`` and the ``RestartStrategy``, gives up cleanly when they restart more than
/// `intensity` times within `period` (OTP's default: 1 in 5 seconds), and shuts them down in
/// reverse start order, each by its ``ShutdownPolicy``, restarting nothing meanwhile.
///
/// ```swift
/// let supervisor = Supervisor(strategy: .oneForOne, intensity: 3, period: .seconds(10), children: [
///     .worker("tally", Tally.self),
///     .worker("echo", Echo.self, restart: .transient),
/// ])
/// try await supervisor.start()
/// let sum: Int = try await supervisor.child("tally")!.request(5)
/// await supervisor.shutdown()
/// ```
public actor Supervisor {
    public let strategy: RestartStrategy
    public let intensity: Int
    public let period: Duration
    /// The children, in start order (``startChild(_:)`` adds one, ``terminateChild(_:)`` takes one away).
    public private(set) var specs: [ChildSpec]
    /// Every event, in order. One consumer.
    public nonisolated let events: AsyncStream<SupervisorEvent>
    private let eventSink: AsyncStream<SupervisorEvent>.Continuation

    private var current: [String: ChildProcess] = [:]
    private var restarts: [ContinuousClock.Instant] = []
    /// Exits not handled yet, oldest first. A start or a restart is one transaction: exits
    /// that arrive during it wait here and are handled, in order, once it has finished.
    private var pendingExits: [(id: String, child: ChildProcess, status: TerminationStatus)] = []
    /// True while a transaction (`start`, a restart, the draining of `pendingExits`) runs.
    private var busy = false
    /// Set by ``shutdown()``: no exit is handled and no child started after it.
    private var closing = false
    /// ``shutdown()`` waiting for the current transaction to end.
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    private var outcome: Result<Void, SupervisorError>?
    /// The runtime's supervisor that starts the children (set by ``start(on:)``).
    private var launcher: (any ChildLauncher)?
    private var outcomeWaiters: [CheckedContinuation<Void, any Error>] = []

    public init(strategy: RestartStrategy = .oneForOne, intensity: Int = 1, period: Duration = .seconds(5), children: [ChildSpec]) {
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.specs = children
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Starts every child in order on `launcher` (a runtime's supervisor; ``start()``, in
    /// Runtime/, uses the default runtime's); if one fails to start, stops those already
    /// started (in reverse order) and throws.
    func start(on launcher: any ChildLauncher) async throws {
        var seen = Set<String>()
        for spec in specs where !seen.insert(spec.id).inserted {
            throw SupervisorError(code: .duplicateID, childID: spec.id, message: "two children are named \(spec.id)")
        }
        // An interrupt stops this tree before the children started outside it.
        self.launcher = launcher
        launcher.registerForShutdown { [weak self] in await self?.shutdown() }
        busy = true
        for spec in specs where !closing {
            do {
                try await launch(spec)
            } catch {
                await stopAll()
                becomeIdle()
                throw SupervisorError(code: .startFailed, childID: spec.id, message: "\(error)")
            }
        }
        // Children that died while their younger siblings started are handled now.
        await drainExits()
    }

    /// The running incarnation of the child `id`, if it is running.
    public func child(_ id: String) -> ChildProcess? { current[id] }

    /// Stops every child in reverse start order, each by its shutdown policy; nothing is
    /// restarted while this runs. ``wait()`` then returns.
    public func shutdown() async {
        guard outcome == nil, !closing else { return }
        closing = true
        // A restart under way starts nothing more once `closing` is set; what it already
        // started is in `current` when it ends, so the stop below finds every child.
        if busy { await withCheckedContinuation { idleWaiters.append($0) } }
        await stopAll()
        eventSink.yield(.stopped)
        finish(.success(()))
    }

    /// Ends the tree the gentle way: nothing is restarted any more, each child's mailbox is
    /// closed (newest first) so a worker's request loop ends and it exits by itself, and a child
    /// still running after `grace` is stopped by its shutdown policy. ``wait()`` then returns.
    /// For work that is done, where ``shutdown()`` is for work that is interrupted.
    public func drain(grace: Duration = .seconds(5)) async {
        guard outcome == nil, !closing else { return }
        closing = true
        while busy { await withCheckedContinuation { idleWaiters.append($0) } }
        let running = specs.reversed().compactMap { spec in current.removeValue(forKey: spec.id).map { (spec, $0) } }
        for (_, child) in running { child.closeMailbox() }
        let deadline = ContinuousClock.now + grace
        for (spec, child) in running {
            if (try? await child.join(timeout: max(deadline - ContinuousClock.now, .zero))) ?? nil == nil {
                await stop(child, spec)
            } else {
                eventSink.yield(.exited(id: spec.id, status: child.status ?? .unknown))
            }
        }
        eventSink.yield(.stopped)
        finish(.success(()))
    }

    /// Adds a child to a running tree and starts it (OTP's `start_child`): it is restarted by
    /// its policy from then on, and stopped last-in first-out with the others. Throws
    /// ``SupervisorError/Code/duplicateID`` for an id in use, ``SupervisorError/Code/startFailed``
    /// if it cannot start (it is not added then) or the tree has stopped.
    public func startChild(_ spec: ChildSpec) async throws {
        try await transaction { [self] in
            guard !specs.contains(where: { $0.id == spec.id }) else {
                throw SupervisorError(code: .duplicateID, childID: spec.id, message: "a child is named \(spec.id) already")
            }
            specs.append(spec)
            do {
                try await launch(spec)
            } catch {
                specs.removeAll { $0.id == spec.id }
                throw SupervisorError(code: .startFailed, childID: spec.id, message: "\(error)")
            }
        }
    }

    /// Stops a child by its shutdown policy and takes it out of the tree (OTP's
    /// `terminate_child` then `delete_child`): it is not restarted. With a `grace`, its mailbox
    /// is closed first and it has that long to end by itself (a worker's request loop ends and
    /// it returns) before the shutdown policy. Nothing happens for an unknown id.
    public func terminateChild(_ id: String, grace: Duration? = nil) async throws {
        try await transaction { [self] in
            guard let spec = specs.first(where: { $0.id == id }) else { return }
            specs.removeAll { $0.id == id }
            guard let child = current.removeValue(forKey: id) else { return }
            if let grace {
                child.closeMailbox()
                if (try? await child.join(timeout: grace)) ?? nil != nil {
                    eventSink.yield(.exited(id: id, status: child.status ?? .unknown))
                    return
                }
            }
            await stop(child, spec)
        }
    }

    /// Stops a child by its shutdown policy and starts it again (OTP's `restart_child` after
    /// `terminate_child`): an operator's restart, which does not count against the intensity.
    /// Throws ``SupervisorError/Code/startFailed`` if it cannot start again (the supervisor then
    /// treats it as a crash: restarts by policy, or gives up).
    public func restartChild(_ id: String) async throws {
        try await transaction { [self] in
            guard let spec = specs.first(where: { $0.id == id }) else { return }
            if let child = current.removeValue(forKey: id) { await stop(child, spec) }
            eventSink.yield(.restarting(id: id))
            do {
                try await launch(spec)
            } catch {
                await restart(after: spec)
                throw SupervisorError(code: .startFailed, childID: id, message: "\(error)")
            }
        }
    }

    /// Runs `body` as one transaction (no exit is handled meanwhile), once the current one ended;
    /// exits that arrived meanwhile are handled after it.
    private func transaction(_ body: () async throws -> Void) async throws {
        while busy { await withCheckedContinuation { idleWaiters.append($0) } }
        guard !closing, outcome == nil else {
            throw SupervisorError(code: .startFailed, childID: "", message: "the supervisor has stopped")
        }
        busy = true
        do {
            try await body()
        } catch {
            await drainExits()
            throw error
        }
        await drainExits()
    }

    /// Returns when the supervisor was shut down; throws ``SupervisorError`` if it gave up.
    public func wait() async throws {
        if let outcome { return try outcome.get() }
        try await withCheckedThrowingContinuation { outcomeWaiters.append($0) }
    }

    // MARK: internals

    private func launch(_ spec: ChildSpec) async throws {
        var options = spec.options
        options.name = options.name ?? spec.id
        guard let launcher else { throw SupervisorError(code: .startFailed, childID: spec.id, message: "the supervisor was not started") }
        let child = try await spec.start(options, launcher)
        current[spec.id] = child
        eventSink.yield(.started(id: spec.id, pid: child.pid))
        Task { [weak self] in
            let status = (try? await child.join()) ?? nil
            await self?.exited(spec.id, child, status ?? .unknown)
        }
    }

    /// Queues the exit; handles the queue unless a transaction is running (it will).
    private func exited(_ id: String, _ child: ChildProcess, _ status: TerminationStatus) async {
        pendingExits.append((id, child, status))
        guard !busy else { return }
        busy = true
        await drainExits()
    }

    /// Handles the queued exits one at a time, each to its end (a restart included), then
    /// leaves the transaction. Runs only with `busy` set.
    private func drainExits() async {
        while !pendingExits.isEmpty, !closing, outcome == nil {
            let (id, child, status) = pendingExits.removeFirst()
            await handleExit(id, child, status)
        }
        pendingExits.removeAll()
        becomeIdle()
    }

    private func becomeIdle() {
        busy = false
        for waiter in idleWaiters { waiter.resume() }
        idleWaiters.removeAll()
    }

    private func handleExit(_ id: String, _ child: ChildProcess, _ status: TerminationStatus) async {
        // An incarnation already replaced, or stopped by the tree itself (`stop` takes it out
        // of `current` first), is not news.
        guard current[id] === child else { return }
        current[id] = nil
        eventSink.yield(.exited(id: id, status: status))
        guard let spec = specs.first(where: { $0.id == id }) else { return }
        switch spec.restart {
        case .temporary: return
        case .transient where status == .exited(0): return
        default: break
        }
        await restart(after: spec)
    }

    private func restart(after spec: ChildSpec) async {
        let now = ContinuousClock.now
        restarts.append(now)
        restarts.removeAll { now - $0 > period }
        guard restarts.count <= intensity else {
            await stopAll()
            eventSink.yield(.gaveUp(id: spec.id))
            finish(.failure(SupervisorError(code: .intensityExceeded, childID: spec.id,
                                            message: "\(spec.id) needed more than \(intensity) restart(s) within \(period)")))
            return
        }
        (launcher as? SupervisorCore)?.metrics.restarts(of: spec.id).increment()
        let index = specs.firstIndex { $0.id == spec.id }!
        let group: [ChildSpec]
        switch strategy {
        case .oneForOne: group = [spec]
        case .oneForAll: group = specs
        case .restForOne: group = Array(specs[index...])
        }
        // Stop the rest of the group, newest first, then start the group in order. Exits
        // arriving meanwhile (a child outside the group, a member just started) are queued.
        for other in group.reversed() where other.id != spec.id {
            if let child = current.removeValue(forKey: other.id) { await stop(child, other) }
        }
        for member in group where !closing && (member.id == spec.id || member.restart != .temporary) {
            eventSink.yield(.restarting(id: member.id))
            do {
                try await launch(member)
            } catch {
                // A child that cannot start counts as one more restart.
                await restart(after: member)
                return
            }
        }
    }

    private func stopAll() async {
        for spec in specs.reversed() {
            if let child = current.removeValue(forKey: spec.id) { await stop(child, spec) }
        }
    }

    /// SIGTERM and a grace period, or SIGKILL at once; always ends in SIGKILL. The exit is
    /// reported as an event, so the events show the order children were stopped in.
    private func stop(_ child: ChildProcess, _ spec: ChildSpec) async {
        switch spec.shutdown {
        case .brutalKill:
            child.kill()
        case .timeout(let grace):
            child.terminate()
            if (try? await child.join(timeout: grace)) ?? nil == nil { child.kill() }
        }
        let status = (try? await child.join()) ?? nil
        launcher?.reportStop(spec.id, pid: child.pid, status ?? .unknown)
        eventSink.yield(.exited(id: spec.id, status: status ?? .unknown))
    }

    private func finish(_ result: Result<Void, SupervisorError>) {
        guard outcome == nil else { return }
        outcome = result
        for waiter in outcomeWaiters { waiter.resume(with: result.mapError { $0 as any Error }) }
        outcomeWaiters.removeAll()
        eventSink.finish()
    }
}
