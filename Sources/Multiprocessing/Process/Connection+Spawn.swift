import Synchronization

// Handing one end of a connection to a child at spawn. A descriptor cannot travel inside a
// message, so an end is not `Codable`: the child gets copies of its descriptors when it is
// spawned (placed from fd 5 up and named in MP_FDS as "<label>.read" and "<label>.write"),
// and takes them with `Connection.inherited(label)`.

extension ProcessOptions {
    /// Gives the child a copy of `connection`'s descriptors at spawn, under `label`; the child
    /// takes them with ``Connection/inherited(_:maxFrameSize:)``.
    ///
    /// The connection stays this process's: keep it open until `ChildProcess.start` returns,
    /// then ``Connection/close()`` it, whether the start succeeded or failed. Otherwise this
    /// process keeps the pipes open and its own end never sees end of file when the child dies.
    ///
    /// ```swift
    /// let (mine, theirs) = try Connection.pair()
    /// var options = ProcessOptions()
    /// try options.pass(theirs, as: "results")
    /// defer { theirs.close() }
    /// let child = try await ChildProcess.start(worker, job, options: options)
    /// ```
    ///
    /// Throws ``ConnectionError/Code/invalidArgument`` for an empty label, one with `:` or `,`
    /// (the separators of `MP_FDS`), or one already passed in these options, and
    /// ``ConnectionError/Code/closed`` for a closed connection.
    public mutating func pass(_ connection: Connection, as label: String) throws(ConnectionError) {
        guard !label.isEmpty, !label.contains(where: { $0 == ":" || $0 == "," }) else {
            throw ConnectionError(.invalidArgument, "the label \"\(label)\" must be non-empty, without \":\" or \",\"")
        }
        guard !passedConnections.contains(where: { $0.label == label }) else {
            throw ConnectionError(.invalidArgument, "a connection is already passed as \"\(label)\" in these options")
        }
        guard !connection.isClosed else { throw ConnectionError.closedEnd }
        passedConnections.append((label: label, connection: connection))
    }
}

extension Connection {
    enum InheritedEnd: String { case read, write }

    static func inheritedLabel(_ label: String, _ end: InheritedEnd) -> String { "\(label).\(end.rawValue)" }

    /// Labels already taken in this process: two ends owning the same descriptors would close
    /// them twice.
    private static let taken = Mutex<Set<String>>([])

    /// The end of a connection that the parent passed to this child as `label` with
    /// ``ProcessOptions/pass(_:as:)``. The returned end owns the descriptors (made
    /// close-on-exec again); a label can be taken once per process.
    ///
    /// Throws ``ConnectionError/Code/notInherited`` when this process was not given a
    /// connection under `label` (the message lists the labels it was given) or already took
    /// it; ``ConnectionError/Code/systemCallFailed`` if the descriptors cannot be set up (they
    /// are closed then).
    public static func inherited(_ label: String, maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) throws(ConnectionError) -> Connection {
        let table = ChildEnvironment.inheritedDescriptors()
        let read = table[inheritedLabel(label, .read)], write = table[inheritedLabel(label, .write)]
        guard read != nil || write != nil else {
            let ends = table.keys.filter { $0.hasSuffix(".read") || $0.hasSuffix(".write") }
            let given = Set(ends.map { "\"\($0[..<$0.lastIndex(of: ".")!])\"" }).sorted()
            throw ConnectionError(.notInherited, "no connection was passed to this process as \"\(label)\" "
                + (given.isEmpty ? "(it was given none)" : "(it was given \(given.joined(separator: ", ")))"))
        }
        let fresh = taken.withLock { $0.insert(label).inserted }
        guard fresh else {
            throw ConnectionError(.notInherited, "the connection \"\(label)\" was already taken in this process")
        }
        ignoreBrokenPipeSignal()
        // One end of a one-way pair comes with one descriptor.
        return try adopting(readEnd: read.map(FileDescriptor.init(rawValue:)) ?? absent, writeEnd: write.map(FileDescriptor.init(rawValue:)) ?? absent,
                            maxFrameSize: maxFrameSize, setCloseOnExec: true)
    }
}
