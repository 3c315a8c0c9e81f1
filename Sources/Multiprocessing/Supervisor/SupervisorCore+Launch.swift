/// Starting a child: what every ``ChildProcess`` start goes through (the default runtime's
/// supervisor, or a runtime's given explicitly).
extension SupervisorCore: ChildLauncher {
    /// Spawns a child for `entry` (nil: a foreign executable) and waits for its handshake. An
    /// entry the configuration's registry does not hold is refused before anything is spawned
    /// (a supervisor made without a registry checks nothing: the child refuses it). The entry
    /// of an executable named in the options is that program's to check.
    func launch(entry: String?, options: ProcessOptions, trampoline: Bool) async throws -> ChildProcess {
        if let entry, options.executable == nil, let entries = configuration.entries, entries.lookup(entry) == nil {
            let registered = entries.names
            throw ProcessError(.unknownEntry, "cannot start \"\(entry)\": it is not registered in this process ("
                + (registered.isEmpty ? "no entry is" : "registered: " + registered.map { "\"\($0)\"" }.joined(separator: ", "))
                + "); pass it to Multiprocessing.bootstrap")
        }
        let executable: String
        if let chosen = options.executable ?? Multiprocessing.defaultExecutable {
            executable = chosen
        } else {
            executable = try ProcessControl.currentExecutablePath()
        }
        let number = children.count + 1
        let launch = Launch(executable: executable, arguments: options.arguments, environment: options.environment,
                            workingDirectory: options.workingDirectory,
                            name: options.name ?? "\(entry ?? (executable.split(separator: "/").last.map(String.init) ?? "child"))-\(number)",
                            daemon: options.daemon, entry: entry, trampoline: trampoline,
                            extraDescriptors: try options.descriptorsForSpawn(), output: options.output,
                            startMethod: options.startMethod)
        // The options keep the passed connections (and so their descriptors) alive until
        // the child has its copies.
        defer { withExtendedLifetime(options) {} }
        let record = try await spawn(launch)
        try await record.handshake(timeout: options.handshakeTimeout)
        return ChildProcess(record)
    }

    var activeChildren: [ChildProcess] {
        children.filter { $0.status == nil }.map(ChildProcess.init)
    }
}
