import Synchronization

/// The environment variables that tell a spawned process what it is. Only descriptors and
/// names travel here (the environment's size is limited); arguments come in the first frame.
enum ChildEnvironment {
    /// The entry to run: a ``ProcessFunction``'s name or a ``Worker``'s ``Worker/entryName``.
    static let entry = "MP_ENTRY"
    /// The channel's descriptors, "3,4": frames in on the first, out on the second.
    static let channel = "MP_CHANNEL_FDS"
    /// The supervisor's pid: a child whose parent is already another process exits at once.
    static let parent = "MP_PARENT_PID"
    /// The child's name, for its messages.
    static let name = "MP_NAME"
    /// "1" in a daemon child.
    static let daemon = "MP_DAEMON"
    /// The name of the process that spawned the child (``Multiprocessing/parentProcess``).
    static let parentName = "MP_PARENT_NAME"

    /// This process's name: the one its parent gave it, or "MainProcess".
    static var currentName: String {
        ProcessEnvironment.value(entry) == nil ? Multiprocessing.mainProcessName
            : ProcessEnvironment.value(name) ?? ProcessEnvironment.value(entry) ?? Multiprocessing.mainProcessName
    }
    /// Further descriptors the child was given, "label:number,..." from 5 up (the arena,
    /// spawn-time connections).
    static let descriptors = "MP_FDS"

    /// The descriptors `MP_FDS` names, by label.
    static func inheritedDescriptors() -> [String: Int32] {
        guard let text = ProcessEnvironment.value(descriptors) else { return [:] }
        var result: [String: Int32] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":")
            if parts.count == 2, let number = Int32(parts[1]) { result[String(parts[0])] = number }
        }
        return result
    }
    /// Set in a trampoline: the foreign executable to `exec` once the parent-death signal is set.
    static let execute = "MP_EXEC"
}

/// Whether ``Multiprocessing/bootstrap(functions:workers:)`` ran in this process: every spawn
/// checks it (``SupervisorRuntime/started()``), so a program that forgot to call it gets an
/// error at its first start instead of a chain of processes each starting the next.
enum Bootstrap {
    private static let flag = Atomic<Bool>(false)
    static var done: Bool { flag.load(ordering: .acquiring) }
    static func markDone() { flag.store(true, ordering: .releasing) }
}

/// Entries registered by ``Multiprocessing/bootstrap(functions:workers:)``, by name.
enum EntryRegistry {
    private static let entries = Mutex<[String: EntryDefinition]>([:])

    static func register(_ definition: EntryDefinition) throws {
        try entries.withLock { table in
            if table[definition.name] != nil {
                throw ProcessError(ProcessError.Code.duplicateEntry, "two entries are registered as \"\(definition.name)\"")
            }
            table[definition.name] = definition
        }
    }

    static func lookup(_ name: String) -> EntryDefinition? { entries.withLock { $0[name] } }
    static var names: [String] { entries.withLock { $0.keys.sorted() } }
}

extension Multiprocessing {
    /// Registers the program's entries; in a child, runs the one it was started for and exits.
    ///
    /// Call it first in `main`, in every program that starts processes: a child is the same
    /// executable started again (Python's "spawn" method), and this is where it finds out.
    /// In the parent it returns at once; the supervisor starts with the first child.
    ///
    /// ```swift
    /// let square = ProcessFunction("square") { (x: Int) in x * x }
    /// try await Multiprocessing.bootstrap(functions: [square], workers: [Tally.self])
    /// ```
    public static func bootstrap(functions: [any ProcessEntry] = [], workers: [any Worker.Type] = []) async throws {
        guard let entry = try prepare(functions: functions, workers: workers) else { return }
        ProcessEnvironment.exit(await runChild(entry: entry))
    }

    /// ``bootstrap(functions:workers:)`` for a synchronous `main` (or a test bundle's set-up):
    /// the same registration and the same answer to "am I a child?". In the parent it
    /// returns at once; in a child it runs the entry on a task, blocks the calling thread
    /// until the entry ends, and exits with its code. A separate name, not an overload: in
    /// top-level code an `await` would otherwise pick this one.
    public static func bootstrapBlocking(functions: [any ProcessEntry] = [], workers: [any Worker.Type] = []) throws {
        guard let entry = try prepare(functions: functions, workers: workers) else { return }
        Task { ProcessEnvironment.exit(await runChild(entry: entry)) }
        while true { _ = try? FileDescriptor.poll([], for: .readable, timeout: nil) }
    }

    /// Registers the entries and marks this process bootstrapped; runs a trampoline's
    /// `exec`; returns the entry to run in a child, `nil` in the parent (whose interrupt
    /// handling and arena are set up here).
    private static func prepare(functions: [any ProcessEntry], workers: [any Worker.Type]) throws -> String? {
        for function in functions { if let action = function as? BarrierAction { try BarrierActionRegistry.register(action) } else { try EntryRegistry.register(function.definition) } }
        for worker in workers { try EntryRegistry.register(worker.definition) }
        // From here on this process may start children (in a child: once its entry runs).
        Bootstrap.markDone()
        if let target = ProcessEnvironment.value(ChildEnvironment.execute) {
            runTrampoline(target)
        }
        guard let entry = ProcessEnvironment.value(ChildEnvironment.entry) else {
            Interrupts.install()   // the parent: Ctrl-C stops the children in order
            _ = try? Arena.current   // the root creates the process tree's arena
            return nil
        }
        return entry
    }

    /// The life of a child: tie its life to the supervisor's, check the entry, shake hands,
    /// run, and return the exit code.
    static func runChild(entry: String) async -> Int32 {
        let name = ProcessEnvironment.value(ChildEnvironment.name) ?? entry
        guard tieLifeToParent() else { return ChildExitCode.orphaned }
        _ = try? Arena.current   // map the inherited arena before the entry runs (an error shows on use)
        // As CPython does: a write to a closed channel is an EPIPE error to handle, not death.
        _ = try? Signal.pipe.setIgnored(true)
        guard let definition = EntryRegistry.lookup(entry) else {
            ProcessEnvironment.writeError("[\(name)] unknown entry \"\(entry)\": this executable registers \(EntryRegistry.names.map { "\"\($0)\"" }.joined(separator: ", ")); pass every entry to Multiprocessing.bootstrap\n")
            return ChildExitCode.unknownEntry
        }
        let descriptors = (ProcessEnvironment.value(ChildEnvironment.channel) ?? "3,4").split(separator: ",").compactMap { Int32($0) }
        guard descriptors.count == 2 else {
            ProcessEnvironment.writeError("[\(name)] \(ChildEnvironment.channel) must name two descriptors\n")
            return ChildExitCode.protocolError
        }
        let session = ChildSession(input: FileDescriptor(rawValue: descriptors[0]), output: FileDescriptor(rawValue: descriptors[1]), entry: entry, name: name)
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
            ChildSession.current = session
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
        ProcessEnvironment.writeError("mp: cannot execute \(target): \(error)\n")
        ProcessEnvironment.exitImmediately(127)
    }
}

/// The process's command line arguments (`CommandLine.arguments`).
enum CommandLineArguments {
    static var all: [String] { CommandLine.arguments }
}
