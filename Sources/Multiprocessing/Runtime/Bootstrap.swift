import Synchronization

extension Multiprocessing {
    /// Registers the program's entries; in a child, runs the one it was started for and exits.
    ///
    /// Call it first in `main`, in every program that starts processes: a child is the same
    /// executable started again (Python's "spawn" method), and this is where it finds out.
    /// In the parent it returns at once; the supervisor starts with the first child. It makes
    /// the default ``Runtime`` (``Runtime/current``): before it, a start throws
    /// ``ProcessError/Code/notBootstrapped``.
    ///
    /// ```swift
    /// let square = ProcessFunction("square") { (x: Int) in x * x }
    /// try await Multiprocessing.bootstrap(functions: [square], workers: [Tally.self])
    /// ```
    ///
    /// `managed` are the custom ``ManagedType``s a ``Manager`` hosts: the supervisor's manager
    /// knows them from the start, and a manager in its own process (``Manager/start(name:)``)
    /// hosts only them.
    public static func bootstrap(functions: [any ProcessEntry] = [], workers: [any Worker.Type] = [],
                                 managed: [any ManagedType.Type] = []) async throws {
        guard let child = try prepare(functions: functions, workers: workers, managed: managed) else { return }
        ProcessEnvironment.exit(await runChild(entry: child.entry, entries: child.entries, poolFunctions: child.poolFunctions))
    }

    /// ``bootstrap(functions:workers:)`` for a synchronous `main` (or a test bundle's set-up):
    /// the same registration and the same answer to "am I a child?". In the parent it
    /// returns at once; in a child it runs the entry on a task, blocks the calling thread
    /// until the entry ends, and exits with its code. A separate name, not an overload: in
    /// top-level code an `await` would otherwise pick this one.
    public static func bootstrapBlocking(functions: [any ProcessEntry] = [], workers: [any Worker.Type] = [],
                                         managed: [any ManagedType.Type] = []) throws {
        guard let child = try prepare(functions: functions, workers: workers, managed: managed) else { return }
        Task { ProcessEnvironment.exit(await runChild(entry: child.entry, entries: child.entries, poolFunctions: child.poolFunctions)) }
        while true { _ = try? FileDescriptor.poll([], for: .readable, timeout: nil) }
    }

    /// Registers the entries (and every function's pool chunk runner, beside the built-in
    /// pool worker entry); runs a trampoline's `exec`; returns the entry to run in a child,
    /// `nil` in the parent (whose default runtime, interrupt handling and arena are set up
    /// here; a child's runtime is made once its handshake is done).
    private static func prepare(functions: [any ProcessEntry], workers: [any Worker.Type], managed: [any ManagedType.Type])
        throws -> (entry: String, entries: EntryRegistry, poolFunctions: PoolFunctions)? {
        let entries = EntryRegistry()
        let poolFunctions = PoolFunctions()
        try register(functions: functions, workers: workers, in: entries, poolFunctions: poolFunctions)
        try entries.register(ManagerProcess.definition(types: managed))
        if let target = ProcessEnvironment.value(ChildEnvironment.execute) {
            runTrampoline(target)
        }
        guard let entry = ProcessEnvironment.value(ChildEnvironment.entry) else {
            // From here on this process may start children.
            let runtime = Runtime(entries: entries, poolFunctions: poolFunctions)
            for type in managed { runtime.managerService.withObjects { type.register(in: $0) } }
            Runtime.install(runtime)
            // Ctrl-C stops the children in order.
            Interrupts.install(Interrupts.Actions(shutDown: { _ in await runtime.supervisorIfStarted?.shutDownEverything() },
                                                  killNow: { runtime.supervisorIfStarted?.killEverythingNow() }))
            _ = try? runtime.arena()   // the root creates the process tree's arena
            return nil
        }
        return (entry, entries, poolFunctions)
    }

    /// Registers `functions` and `workers` in `entries`, each function's pool chunk runner in
    /// `poolFunctions`, and (once) the built-in pool worker entry that runs them.
    static func register(functions: [any ProcessEntry], workers: [any Worker.Type], in entries: EntryRegistry,
                         poolFunctions: PoolFunctions) throws {
        for function in functions {
            if let action = function as? BarrierAction { try BarrierActionRegistry.register(action) } else { try entries.register(function.definition) }
            if let callable = function as? any PoolCallable { try poolFunctions.register(callable.poolFunction) }
        }
        for worker in workers { try entries.register(worker.definition) }
        if entries.lookup(PoolWire.workerEntry) == nil { try entries.register(PoolWorker.definition(functions: poolFunctions)) }
    }

    /// The life of a child: tie its life to the supervisor's, find the entry in `entries`,
    /// shake hands, run, and return the exit code.
    static func runChild(entry: String, entries: EntryRegistry, poolFunctions: PoolFunctions) async -> Int32 {
        let name = ProcessEnvironment.value(ChildEnvironment.name) ?? entry
        guard tieLifeToParent() else { return ChildExitCode.orphaned }
        let arena = ArenaSlot.inherited()   // map the inherited arena before the entry runs (an error shows on use)
        // As CPython does: a write to a closed channel is an EPIPE error to handle, not death.
        _ = try? Signal.pipe.setIgnored(true)
        guard let definition = entries.lookup(entry) else {
            RuntimeLog.error("[\(name)] unknown entry \"\(entry)\": this executable registers \(entries.names.map { "\"\($0)\"" }.joined(separator: ", ")); pass every entry to Multiprocessing.bootstrap",
                             metadata: ["worker": "\(name)", "pid": "\(ProcessControl.id)", "entry": "\(entry)"])
            return ChildExitCode.unknownEntry
        }
        let descriptors = (ProcessEnvironment.value(ChildEnvironment.channel) ?? "3,4").split(separator: ",").compactMap { Int32($0) }
        guard descriptors.count == 2 else {
            RuntimeLog.error("[\(name)] \(ChildEnvironment.channel) must name two descriptors", metadata: ["worker": "\(name)", "pid": "\(ProcessControl.id)"])
            return ChildExitCode.protocolError
        }
        let session = ChildSession(input: FileDescriptor(rawValue: descriptors[0]), output: FileDescriptor(rawValue: descriptors[1]),
                                   entry: entry, name: name,
                                   capabilities: QueueClients.capabilities + (entry == PoolWire.workerEntry ? [PoolWire.capability] : []))
        do {
            try session.handshake()
        } catch is ChildSession.Closed {
            return ChildExitCode.channelClosed
        } catch {
            session.log("handshake failed: \(error)")
            return ChildExitCode.protocolError
        }
        let code: Int32
        do {
            // The entry's code runs on the child's run loop, which also reads the channel.
            let loop = try ChildRunLoop(session: session)
            session.runLoop = loop
            definition.prepare?(session)
            // From here on this child may start children of its own, and use queues.
            Runtime.install(Runtime(session: session, arena: arena, entries: entries, poolFunctions: poolFunctions))
            code = try await loop.run { await definition.run(session) }
        } catch {
            session.log("the child's run loop could not start: \(error)")
            return ChildExitCode.protocolError
        }
        try? session.send(Envelope(.goodbye, from: session.id, to: Envelope.supervisor), Goodbye(status: code))
        return code
    }

    /// Asks for SIGKILL when the spawning thread of the parent ends, then checks the parent is
    /// still the one that started us (it may have died before the flag was set).
    static func tieLifeToParent() -> Bool {
        try? ProcessControl.setParentDeathSignal(.kill)
        if let expected = ProcessEnvironment.value(ChildEnvironment.parent).flatMap(Int32.init),
           ProcessControl.parentID != expected {
            return false
        }
        return true
    }

    /// A foreign executable started under the supervisor: this binary sets the parent-death
    /// signal (which survives `exec`) and becomes the program.
    static func runTrampoline(_ target: String) -> Never {
        guard tieLifeToParent() else { ProcessEnvironment.exitImmediately(ChildExitCode.orphaned) }
        var environment = ProcessEnvironment.all()
        environment[ChildEnvironment.execute] = nil
        environment[ChildEnvironment.parent] = nil
        let arguments = Array(CommandLineArguments.all.dropFirst())
        // This may be a pool thread with most signals blocked: the program gets a clean slate.
        SignalMask.resetForExec()
        let error = ProcessEnvironment.execute(target, arguments: arguments, environment: environment)
        RuntimeLog.error("mp: cannot execute \(target): \(error)", metadata: ["pid": "\(ProcessControl.id)", "path": "\(target)"])
        ProcessEnvironment.exitImmediately(127)
    }
}

/// The process's command line arguments (`CommandLine.arguments`).
enum CommandLineArguments {
    static var all: [String] { CommandLine.arguments }
}
