import MessagePack
import Synchronization

extension SupervisorCore {
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
        var startMethod: StartMethod = .spawn
    }
}

/// Starts one child process: its channel's two pipes (fds 3 and 4 in the child), the
/// runtime's and the caller's descriptors (from fd 5, named in `MP_FDS`), its environment, its
/// output (inherited, discarded or captured), and a pidfd for it. The spawning half of a
/// supervisor, always run on its loop thread (the parent-death signal is tied to the spawning
/// thread). On failure nothing it opened stays open.
struct ChildSpawner: Sendable {
    /// A started child and the supervisor's ends of its pipes (the caller owns them all).
    struct Spawned {
        let pid: Int32
        let process: ChildHandle
        /// The read end of the child's output channel (its fd 4).
        let input: FileDescriptor
        /// The write end of the child's input channel (its fd 3).
        let output: FileDescriptor
        /// Captured standard output and error: each read end with where its lines go (1, 2).
        let captured: [(FileDescriptor, FileDescriptor)]
    }

    /// Descriptors every child gets first, from fd 5 (the arena).
    let descriptorsForChildren: @Sendable () -> [(label: String, descriptor: FileDescriptor)]
    /// This supervisor's fork server, started beside the first child it could fork.
    let forkServer = ForkServerSlot()

    func spawn(_ launch: SupervisorCore.Launch) throws -> Spawned {
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
        let extraDescriptors = descriptorsForChildren() + launch.extraDescriptors
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
        case .prefixed, .lines:
            for _ in 0..<2 { if let pipe = try? FileDescriptor.pipe() { outputPipes.append(pipe) } }
            if outputPipes.count == 2 {
                options.standardOutput = .descriptor(outputPipes[0].writeEnd)
                options.standardError = .descriptor(outputPipes[1].writeEnd)
            }
        }
        var server = launch.trampoline || !launch.arguments.isEmpty || launch.workingDirectory != nil
            ? nil : forkServer.ready(for: launch, environment: environment)
        var spawned = server.map { $0.spawn(options) } ?? Spawner._spawn(executable, options)
        if server != nil, case .failure = spawned {
            // The server could not fork it (it ended meanwhile, say): spawned instead. A server
            // that ended is replaced at the next start.
            server = nil
            spawned = Spawner._spawn(executable, options)
        }
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
            for (descriptor, _) in captured { try? descriptor.close() }
            throw ProcessError(.spawnFailed, "\(launch.name): pidfd_open(\(pid)) failed: \(error)", underlyingError: error)
        }
        return Spawned(pid: pid, process: ChildHandle(pidfd, forkServer: server), input: fromChild.readEnd, output: toChild.writeEnd, captured: captured)
    }
}

/// A supervisor's fork server: none until a child could be forked, then one launched (on the
/// loop thread, which it dies with), used once ready, replaced if it ended. Used on the loop.
final class ForkServerSlot: Sendable {
    private let state = Mutex<ForkServer?>(nil)
    /// Whether the last start failed for good (a refused server: not tried again).
    private let refused = Atomic<Bool>(false)

    /// The server to fork a child of `launch` with, if one serves; else nil, and one is launched
    /// for the next children (this child is spawned meanwhile).
    func ready(for launch: SupervisorCore.Launch, environment: [String: String]) -> ForkServer? {
        guard launch.startMethod == .forkServer, !refused.load(ordering: .relaxed),
              let current = try? ProcessControl.currentExecutablePath(), launch.executable == current else { return nil }
        // The server is started with this process's environment; a child that asks for other
        // loader or allocator settings would not get them by a fork: it is spawned.
        let own = ProcessEnvironment.all()
        guard Self.startUpVariables(of: environment) == Self.startUpVariables(of: own) else { return nil }
        return state.withLock { server -> ForkServer? in
            if let running = server, running.executable == launch.executable {
                if running.isReady { return running }
                if !running.hasEnded { return nil }
                if !running.wasReady {   // refused or died starting: spawn from now on
                    refused.store(true, ordering: .relaxed)
                    return nil
                }
            }
            server = try? ForkServer.launch(executable: launch.executable, environment: own)
            return nil
        }
    }

    /// The variables read before `main` runs (the loader's, glibc's tunables, malloc's): what a
    /// forked child keeps from its server whatever its own environment says.
    static func startUpVariables(of environment: [String: String]) -> [String: String] {
        environment.filter { $0.key.hasPrefix("LD_") || $0.key.hasPrefix("MALLOC_") || $0.key == "GLIBC_TUNABLES" }
    }

    /// Stops the server (it ends after its last child) and waits up to `timeout` for it.
    func stop(timeout: Duration) {
        guard let server = state.withLock({ $0.take() }) else { return }
        server.stop()
        server.awaitEnd(timeout: timeout)
    }
}
