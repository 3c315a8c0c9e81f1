import Synchronization

/// Python's default process names: every child gets the next number of its parent's counter
/// (its identity), "Process-N" in the main process and "Process-N:M" below a child whose
/// identity is N, whatever names were chosen on the way (`BaseProcess._identity` in CPython's
/// `process.py`). A child learns its identity from `MP_IDENTITY`, set at its spawn.
enum ProcessNames {
    /// The environment variable carrying a child's identity ("1", "1:3").
    static let identityVariable = "MP_IDENTITY"
    /// The prefix Python gives a plain `Process`.
    static let processPrefix = "Process"

    /// This process's identity: empty in the main process.
    static let ownIdentity: String = {
        guard ProcessEnvironment.value(ChildEnvironment.entry) != nil else { return "" }
        return ProcessEnvironment.value(identityVariable) ?? ""
    }()

    private static let counter = Atomic<Int>(0)

    /// The identity of the next child this process starts.
    static func nextIdentity() -> String {
        let number = counter.add(1, ordering: .relaxed).newValue
        return ownIdentity.isEmpty ? "\(number)" : "\(ownIdentity):\(number)"
    }

    /// `options` with the next identity set in the child's environment and, unless a name was
    /// chosen, the default name "<prefix>-<identity>". The environment becomes explicit (this
    /// process's, as the spawn would have taken, when it was nil).
    static func assign(_ options: ProcessOptions, prefix: String) -> ProcessOptions {
        var options = options
        let identity = nextIdentity()
        if options.name == nil { options.name = "\(prefix)-\(identity)" }
        var environment = options.environment ?? ProcessEnvironment.all()
        environment[identityVariable] = identity
        options.environment = environment
        return options
    }
}
