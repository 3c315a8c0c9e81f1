import CoreMetrics
import MessagePack
import NIOCore
import NIOPosix
import Synchronization

/// A supervisor: one SwiftNIO event loop thread that multiplexes every child's pipes, spawns
/// every child (the parent-death signal is tied to the spawning thread, so that thread lives
/// as long as the supervisor), owns every child's lifecycle, and hands the frames of the
/// kinds its services own to them (``SupervisorService``). Composed of a ``ChildSpawner``,
/// the ``LiveChildren`` table, a ``MonitorTable``, an ``AnswerSpinner``, a ``ShutdownOrder``
/// and the process's ``SupervisorExitList``. A ``Runtime`` makes one on its
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
        /// Where its metrics go; the process's swift-metrics factory when nil.
        var metricsFactory: (any MetricsFactory)?
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
    /// What it reports through swift-metrics (SupervisorMetrics.swift has the labels).
    let metrics: SupervisorMetrics
    /// Live children by id.
    private let live = LiveChildren()
    private let spawner: ChildSpawner
    private let monitors: MonitorTable
    private let answerSpinner: AnswerSpinner
    private let shutdownOrder = ShutdownOrder()
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
        metrics = SupervisorMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        spawner = ChildSpawner(descriptorsForChildren: configuration.descriptorsForChildren)
        monitors = MonitorTable(children: live)
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
        answerSpinner = AnswerSpinner(loop: loop) { [live] in live.openReadDescriptors }
        SupervisorExitList.add(self)
        try? loop.submit { [self] in
            for service in services.all { service.start(host: self) }
        }.wait()
    }

    /// Stops every child (as an interrupt does, quietly), the services, the loop and the
    /// reaper: what a test does with a supervisor it made. Nothing of it outlives this call.
    func shutdown() async {
        await shutDownEverything(grace: .seconds(5), report: false)
        try? await loop.submit { [self] in for service in services.all { service.stop() } }.get()
        spawner.forkServer.stop(timeout: .seconds(5))   // its children have ended: it ends at once
        SupervisorExitList.remove(self)
        try? await group.shutdownGracefully()
        reaper.stop()
    }

    /// Every live child, oldest first.
    var children: [ChildRecord] { live.all }

    /// Spawns a child on the loop thread and connects its channel; returns its record before
    /// the handshake (``ChildRecord/handshake(timeout:)`` waits for that).
    func spawn(_ launch: Launch) async throws -> ChildRecord {
        let id = live.nextID()
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
                        try channel.pipeline.syncOperations.addHandler(OutputPrefixer(launch.output, name: launch.name, target: target))
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
                        try channel.pipeline.syncOperations.addHandler(ChildChannelHandler(sink: record, services: services, maxFrameSize: maxFrameSize,
                                                                                             routed: metrics.messagesRouted))
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
        let spawned = try spawner.spawn(launch)
        let process = spawned.process
        let pid = spawned.pid
        let record = ChildRecord(id: id, pid: pid, process: process, name: launch.name, entry: launch.entry,
                                 daemon: launch.daemon, supervisor: self)
        enlist(record)
        reaper.watch(process) { [loop] status in loop.execute { record.exited(status) } }
        return (record, spawned.input, spawned.output, spawned.captured)
    }

    /// The id for the next child, local or remote.
    func nextChildID() -> UInt64 { live.nextID() }

    /// Makes `record` a live child: listed, addressable, monitorable, forgotten (with the
    /// services told) once it finished.
    func enlist(_ record: ChildRecord) {
        record.onFinished = { [weak self] record in self?.forget(record) }
        record.onMonitor = { [monitors] watcher, target in monitors.monitor(target, by: watcher) }
        record.onExit = { [monitors] record, status in monitors.reportDown(record, status) }
        live.add(record)
    }

    /// On the loop, after it wrote frames that will be answered: the loop stays awake a
    /// moment for the answers (``AnswerSpinner``).
    func spinForAnswersSoon() { answerSpinner.spinSoon() }

    /// The live child with `id`, if any.
    func record(_ id: UInt64) -> ChildRecord? { live.record(id) }

    private func forget(_ record: ChildRecord) {
        live.remove(record)
        for service in services.all { service.peerGone(record.id) }
    }

    // MARK: supervisors and ordered shutdown

    /// Remembers `stop` for ``shutDownEverything(grace:report:)``, which runs such steps newest first.
    func registerForShutdown(_ stop: @escaping @Sendable () async -> Void) {
        shutdownOrder.register(stop)
    }

    /// Stops everything this process started, newest first: every supervisor (each stops its
    /// children in reverse start order), then every other child (SIGTERM, `grace`, SIGKILL).
    /// What a terminal's Ctrl-C triggers (`Interrupts`).
    func shutDownEverything(grace: Duration = .seconds(5), report: Bool = true) async {
        if report { shutdownOrder.reportingStops.store(true, ordering: .relaxed) }
        for step in shutdownOrder.takeNewestFirst() { await step() }
        for child in children.reversed() where child.status == nil {
            let process = ChildProcess(child)
            process.terminate()
            if (try? await process.join(timeout: grace)) ?? nil == nil { process.kill() }
            let status = (try? await process.join()) ?? nil
            reportStop(child.name, pid: child.pid, status ?? .unknown)
        }
    }

    /// SIGKILL to every live child (and its process group) at once: a second interrupt.
    func killEverythingNow() {
        for child in children where child.status == nil { child.send(.kill) }
    }

    /// One line on stderr per child stopped during an interrupt, in the order they stopped.
    func reportStop(_ name: String, pid: Int32, _ status: TerminationStatus) {
        shutdownOrder.reportStop(name, pid: pid, status)
    }

    /// Python's behaviour at the parent's exit: daemon children are terminated, the others
    /// joined. Their channels' input is closed, so workers' mailboxes end and they return, while
    /// what they still send is read until they exit.
    /// Runs from `atexit` (``SupervisorExitList``), on the exiting thread.
    func shutDownAtExit() {
        let signal = Interrupts.received.load(ordering: .sequentiallyConsistent)
        if signal != 0 {
            configuration.beforeInterruptedExit()   // the children are stopped already
            ProcessEnvironment.exitImmediately(128 + signal)
        }
        // Last, the fork server: it ends once its children did, and is reaped, not left a zombie.
        defer { spawner.forkServer.stop(timeout: .seconds(2)) }
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
