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

    /// The variables that describe one child (a fork server starts without them).
    static let perChild = [entry, channel, parent, name, daemon, parentName, descriptors, execute]
}
