import MessagePack
import NIOCore
import NIOPosix
import Synchronization

/// A supervisor: one SwiftNIO event loop thread that multiplexes every child's pipes, spawns
/// every child (the parent-death signal is tied to the spawning thread, so that thread lives
/// as long as the supervisor), owns every child's lifecycle, and hands the frames of the
/// kinds its services own to them (``SupervisorService``). A ``Runtime`` makes one on its
/// first spawn; a test can make its own:
///
/// ```swift
/// let queues = QueueService()
/// let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [queues]))
/// defer { Task { await supervisor.shutdown() } }
/// ```
final class SupervisorCore: Sendable {
    /// What a supervisor is made with.
    struct Configuration: Sendable {
        /// The services it hosts, each over its own kind range.
        var services: [any SupervisorService] = []
        /// Descriptors every child gets first, from fd 5, named in `MP_FDS` (the arena).
        var descriptorsForChildren: @Sendable () -> [(label: String, descriptor: FileDescriptor)] = { [] }
        /// Runs before the process exits on an interrupt, once the children are stopped.
        var beforeInterruptedExit: @Sendable () -> Void = {}
        var maxFrameSize = MessagePackLimits.defaultMaxFrameSize
        /// The entries a launch may start (nil: no check before the spawn).
        var entries: EntryRegistry?
    }

    let group: MultiThreadedEventLoopGroup
    let loop: any EventLoop
    /// The loop as a task executor (``Multiprocessing/supervisorExecutor``).
    let executor: SupervisorExecutor
    let reaper: Reaper
    let maxFrameSize: Int
    /// The services, by kind (read by every child's channel handler).
    let services: ServiceTable
    /// The capabilities of a welcome: flow control's and the services'.
    let capabilities: [String]
    let configuration: Configuration
    /// Live children by id (any thread reads; the loop writes).
    private let live = Mutex<[UInt64: ChildRecord]>([:])
    private let ids = Atomic<UInt64>(1)
    /// How many times a sender was paused for a destination past its held budget (for tests and stats).
    let backpressurePauses = Atomic<Int>(0)
    /// The most bytes ever held for one child (ChildFlow), for tests and stats.
    let heldBytesHighWater = Atomic<Int>(0)
    /// A child's channel stops being writable past this many pending bytes, and is again below
    /// the low mark: past it, new requests and messages for the child are held (ChildFlow).
    static let writeWaterMarks = (low: 256 << 10, high: 1 << 20)

    /// Descriptors the runtime opens when it starts: the reaper's wake pipe (2), the event
    /// loop's epoll, eventfd and timerfd (3), and the first child's two pipes (4).
    private static let startDescriptors = 9

    /// Starts the loop and the reaper, then the services. Throws
    /// ``ProcessError/Code/supervisorUnavailable`` when it cannot start (too many open files,
    /// say: a resource limit is an error to the caller, never a crash) and
    /// ``ProcessError/Code/invalidArgument`` for services whose kind ranges are not valid.
    init(_ configuration: Configuration = Configuration()) throws(ProcessError) {
        self.configuration = configuration
        maxFrameSize = configuration.maxFrameSize
        services = try ServiceTable(configuration.services)
        capabilities = [FlowControl.capability] + services.capabilities
        do throws(SystemError) {
            // SwiftNIO ends the process (fatalError) when its loop's epoll cannot be created, so
            // the descriptors the start needs are made sure of first: past RLIMIT_NOFILE this
            // throws, before any thread exists that a failed start would leave behind.
            try FileDescriptor.ensureHeadroom(Self.startDescriptors)
            reaper = try Reaper()
        } catch {
            throw ProcessError(.supervisorUnavailable, "the supervisor could not start: \(error)", underlyingError: error)
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        executor = SupervisorExecutor(loop: loop)
        Self.exitList.withLock { list in
            list.removeAll { $0.core == nil }
            list.append(WeakCore(self))
        }
        Self.installExitHandler()
        try? loop.submit { [self] in
            for service in services.all { service.start(host: self) }
        }.wait()
    }

    /// Stops every child (as an interrupt does, quietly), the services, the loop and the
    /// reaper: what a test does with a supervisor it made. Nothing of it outlives this call.
    func shutdown() async {
        await shutDownEverything(grace: .seconds(5), report: false)
        try? await loop.submit { [self] in for service in services.all { service.stop() } }.get()
        Self.exitList.withLock { list in list.removeAll { $0.core == nil || $0.core === self } }
        try? await group.shutdownGracefully()
        reaper.stop()
    }

    // MARK: the process's exit

    private final class WeakCore: Sendable {
        weak let core: SupervisorCore?
        init(_ core: SupervisorCore) { self.core = core }
    }
    /// Every supervisor of the process, for the exit handler (`atexit` takes no context).
    private static let exitList = Mutex<[WeakCore]>([])
    private static let exitHandlerInstalled = Atomic<Bool>(false)

    private static func installExitHandler() {
        guard !exitHandlerInstalled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ProcessEnvironment.atExit {
            for core in SupervisorCore.exitList.withLock({ $0.compactMap(\.core) }) { core.shutDownAtExit() }
        }
    }

    /// What a spawn needs besides the entry.
    struct Launch: Sendable {
        var executable: String
        var arguments: [String] = []
        var environment: [String: String]? = nil
        var workingDirectory: String? = nil
        var name: String
        var daemon = false
        var entry: String?
        var trampoline = false
        /// More descriptors for the child, placed at 5, 6, ... and named in `MP_FDS` as
        /// "label:number,...". They stay the caller's (the child gets copies).
        var extraDescriptors: [(label: String, descriptor: FileDescriptor)] = []
        var output: OutputHandling = .inherit
    }

    var children: [ChildRecord] { live.withLock { Array($0.values) }.sorted { $0.id < $1.id } }

    /// Spawns a child on the loop thread and connects its channel; returns its record before
    /// the handshake (``ChildRecord/handshake(timeout:)`` waits for that).
    func spawn(_ launch: Launch) async throws -> ChildRecord {
        let id = ids.wrappingAdd(1, ordering: .relaxed).oldValue
        let submitted = loop.submit { [self] () throws -> (ChildRecord, FileDescriptor, FileDescriptor, [(FileDescriptor, FileDescriptor)]) in
            try spawnOnLoop(launch, id: id)
        }
        let (record, input, output, captured) = try await submitted.get()
        for (descriptor, target) in captured {
            // NIO owns the descriptor from here on, also when this fails (NOTES-linux.md).
            _ = try? await NIOPipeBootstrap(group: loop)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(OutputPrefixer(name: launch.name, target: target))
                    }
                }
                .takingOwnershipOfDescriptor(input: descriptor.rawValue)
                .get()
        }
        do {
            let channel = try await NIOPipeBootstrap(group: loop)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.writeBufferWaterMark, value: .init(low: Self.writeWaterMarks.low, high: Self.writeWaterMarks.high))
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Before the first read: the hello is answered through this channel.
                        record.channel = channel
                        record.readDescriptor = input
                        try channel.pipeline.syncOperations.addHandler(ChildChannelHandler(record: record, supervisor: self))
                    }
                }
                .takingOwnershipOfDescriptors(input: input.rawValue, output: output.rawValue)
                .get()
            _ = channel
        } catch {
            // NIO closed the descriptors already (NOTES-linux.md); the child sees EOF and ends.
            record.send(.kill)
            try await loop.submit { record.channelEnded() }.get()
            throw ProcessError(.spawnFailed, "\(launch.name): its channel could not be set up: \(error)")
        }
        return record
    }

    private func spawnOnLoop(_ launch: Launch, id: UInt64) throws -> (ChildRecord, FileDescriptor, FileDescriptor, [(FileDescriptor, FileDescriptor)]) {
        loop.preconditionInEventLoop()
        let toChild = try FileDescriptor.pipe()
        let fromChild: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do { fromChild = try FileDescriptor.pipe() } catch {
            try? toChild.readEnd.close(); try? toChild.writeEnd.close()
            throw error
        }
        var environment = launch.environment ?? ProcessEnvironment.all()
        environment[ChildEnvironment.channel] = "3,4"
        environment[ChildEnvironment.parent] = String(ProcessControl.id)
        environment[ChildEnvironment.name] = launch.name
        environment[ChildEnvironment.parentName] = ChildEnvironment.currentName
        environment[ChildEnvironment.daemon] = launch.daemon ? "1" : nil
        // Every child gets the runtime's descriptors (the arena: shared values, locks, the
        // segment table) first, at fd 5.
        let extraDescriptors = configuration.descriptorsForChildren() + launch.extraDescriptors
        if extraDescriptors.isEmpty {
            environment[ChildEnvironment.descriptors] = nil
        } else {
            environment[ChildEnvironment.descriptors] = extraDescriptors.enumerated()
                .map { "\($0.element.label):\(5 + $0.offset)" }.joined(separator: ",")
        }
        if let entry = launch.entry { environment[ChildEnvironment.entry] = entry } else { environment[ChildEnvironment.entry] = nil }
        var executable = launch.executable
        var options = SpawnOptions(arguments: launch.arguments, environment: environment,
                                   workingDirectory: launch.workingDirectory,
                                   descriptors: [toChild.readEnd, fromChild.writeEnd] + extraDescriptors.map(\.descriptor))
        if launch.trampoline {
            environment[ChildEnvironment.execute] = launch.executable
            options.environment = environment
            options.argument0 = launch.executable
            executable = try ProcessControl.currentExecutablePath()
        }
        // Output: inherited, discarded, or through pipes read by `OutputPrefixer`s.
        var outputPipes: [(readEnd: FileDescriptor, writeEnd: FileDescriptor)] = []
        switch launch.output {
        case .inherit: break
        case .discard:
            options.standardOutput = .nullDevice
            options.standardError = .nullDevice
        case .prefixed:
            for _ in 0..<2 { if let pipe = try? FileDescriptor.pipe() { outputPipes.append(pipe) } }
            if outputPipes.count == 2 {
                options.standardOutput = .descriptor(outputPipes[0].writeEnd)
                options.standardError = .descriptor(outputPipes[1].writeEnd)
            }
        }
        let spawned = Spawner._spawn(executable, options)
        try? toChild.readEnd.close()
        try? fromChild.writeEnd.close()
        for pipe in outputPipes { try? pipe.writeEnd.close() }
        if case .failure = spawned { for pipe in outputPipes { try? pipe.readEnd.close() } }
        let captured: [(FileDescriptor, FileDescriptor)] = outputPipes.count == 2
            ? [(outputPipes[0].readEnd, FileDescriptor(rawValue: 1)), (outputPipes[1].readEnd, FileDescriptor(rawValue: 2))] : []
        let pid: Int32
        switch spawned {
        case .success(let value): pid = value
        case .failure(let error):
            try? toChild.writeEnd.close()
            try? fromChild.readEnd.close()
            throw ProcessError(.spawnFailed, "\(launch.name): cannot start \(launch.executable): \(error)", underlyingError: error)
        }
        let pidfd: PidFD
        do { pidfd = try PidFD.open(pid: pid) } catch {
            try? toChild.writeEnd.close()
            try? fromChild.readEnd.close()
            throw ProcessError(.spawnFailed, "\(launch.name): pidfd_open(\(pid)) failed: \(error)", underlyingError: error)
        }
        let process = ChildHandle(pidfd)
        let record = ChildRecord(id: id, pid: pid, process: process, name: launch.name, entry: launch.entry,
                                 daemon: launch.daemon, supervisor: self)
        record.onFinished = { [weak self] record in self?.forget(record) }
        record.onMonitor = { [weak self] watcher, target in self?.monitor(target, by: watcher) }
        record.onExit = { [weak self] record, status in self?.reportDown(record, status) }
        live.withLock { $0[id] = record }
        reaper.watch(process) { [loop] status in loop.execute { record.exited(status) } }
        return (record, fromChild.readEnd, toChild.writeEnd, captured)
    }

    // MARK: monitors (loop-confined table behind a mutex for simplicity)

    private let watchers = Mutex<[UInt64: Set<UInt64>]>([:])

    /// Registers `watcher` to get a `down` message when `target` ends; at once if it is gone.
    private func monitor(_ target: UInt64, by watcher: ChildRecord) {
        guard let record = record(target), record.status == nil else {
            watcher.write(Envelope(.down, from: Envelope.supervisor, to: watcher.id), Down(id: target, status: .unknown))
            return
        }
        _ = watchers.withLock { $0[target, default: []].insert(watcher.id) }
    }

    /// Tells every watcher of `record` that it ended (on the loop).
    private func reportDown(_ record: ChildRecord, _ status: TerminationStatus) {
        let ids = watchers.withLock { $0.removeValue(forKey: record.id) } ?? []
        for id in ids {
            self.record(id)?.write(Envelope(.down, from: Envelope.supervisor, to: id), Down(id: record.id, status: status))
        }
    }

    /// Whether the loop spins for answers (touched on the loop only).
    private nonisolated(unsafe) var answerSpin = SpinPolicy()
    /// Whether a spin is queued on the loop already (touched on the loop only).
    private nonisolated(unsafe) var answerSpinQueued = false

    /// On the loop, after it wrote frames that will be answered: queues one spin
    /// (``spinForAnswers()``) to run once this iteration's work is done.
    func spinForAnswersSoon() {
        // The policy is asked here, not in the task: while it backs off, no task is queued.
        guard !answerSpinQueued, answerSpin.shouldSpin() else { return }
        answerSpinQueued = true
        loop.execute { [self] in
            answerSpinQueued = false
            spinForAnswers()
        }
    }

    /// Looks at every child's channel for up to ``SpinPolicy/window`` before the loop goes back
    /// to sleep in `epoll_wait`, so that an answer that comes within it finds the loop awake
    /// (System/SpinPoll.swift: a wake-up from another CPU costs about 25 us here). Reads
    /// nothing: NIO's next `epoll_wait` returns at once with what became readable. Adaptive
    /// as every spin (``SpinPolicy``, asked by ``spinForAnswersSoon()``), so a quiet tree
    /// costs no CPU.
    private func spinForAnswers() {
        let descriptors = live.withLock { $0.values.compactMap { $0.channelOpen ? $0.readDescriptor : nil } }
        guard !descriptors.isEmpty else { return }
        answerSpin.record(found: FileDescriptor.spinPoll(descriptors, for: .readable, window: SpinPolicy.window) != nil)
    }

    /// The live child with `id`, if any.
    func record(_ id: UInt64) -> ChildRecord? { live.withLock { $0[id] } }

    private func forget(_ record: ChildRecord) {
        _ = live.withLock { $0.removeValue(forKey: record.id) }
        for service in services.all { service.peerGone(record.id) }
    }

    // MARK: supervisors and ordered shutdown

    /// What to stop first when everything stops (OTP supervisors), in registration order.
    private let shutdownSteps = Mutex<[@Sendable () async -> Void]>([])

    /// Remembers `stop` for ``shutDownEverything(grace:report:)``, which runs such steps newest first.
    func registerForShutdown(_ stop: @escaping @Sendable () async -> Void) {
        shutdownSteps.withLock { $0.append(stop) }
    }

    /// Stops everything this process started, newest first: every supervisor (each stops its
    /// children in reverse start order), then every other child (SIGTERM, `grace`, SIGKILL).
    /// What a terminal's Ctrl-C triggers (`Interrupts`).
    /// Set while an interrupt shuts everything down: every stop is then reported on stderr.
    let reportingStops = Atomic<Bool>(false)

    func shutDownEverything(grace: Duration = .seconds(5), report: Bool = true) async {
        if report { reportingStops.store(true, ordering: .relaxed) }
        let steps = shutdownSteps.withLock { steps in defer { steps.removeAll() }; return steps }
        for step in steps.reversed() { await step() }
        for child in children.reversed() where child.status == nil {
            let process = ChildProcess(child)
            process.terminate()
            if (try? await process.join(timeout: grace)) ?? nil == nil { process.kill() }
            let status = (try? await process.join()) ?? nil
            reportStop(child.name, pid: child.pid, status ?? .unknown)
        }
    }

    /// One line on stderr per child stopped during an interrupt, in the order they stopped.
    func reportStop(_ name: String, pid: Int32, _ status: TerminationStatus) {
        guard reportingStops.load(ordering: .relaxed) else { return }
        ProcessEnvironment.writeError("[supervisor] stopped \(name) (pid \(pid)): \(status)\n")
    }

    /// Python's behaviour at the parent's exit: daemon children are terminated, the others
    /// joined. Their channels' input is closed, so workers' mailboxes end and they return, while
    /// what they still send is read until they exit.
    /// Runs from `atexit`, on the exiting thread.
    private func shutDownAtExit() {
        let signal = Interrupts.received.load(ordering: .sequentiallyConsistent)
        if signal != 0 {
            configuration.beforeInterruptedExit()   // the children are stopped already
            ProcessEnvironment.exitImmediately(128 + signal)
        }
        let children = self.children
        guard !children.isEmpty else { return }
        for child in children {
            if child.daemon { child.send(.terminate) } else { child.closeChannelInput() }
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        while !self.children.isEmpty, clock.now < deadline {
            _ = try? FileDescriptor.poll([], for: .readable, timeout: .milliseconds(5))
        }
        for child in self.children { child.send(.kill) }
    }
}

extension SupervisorCore: ServiceHost {
    func peer(_ id: UInt64) -> (any ServicePeer)? { record(id) }

    func write(_ frames: ByteBuffer, to peer: UInt64) {
        record(peer)?.forward(frames)
    }

    func scheduleFlush(_ service: any SupervisorService) {
        loop.execute { service.flush() }
    }
}
