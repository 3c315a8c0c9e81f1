// Python's `current_process()` and `parent_process()`: what this process is, and a handle
// on the process that started it. A child learns its name, daemon flag and entry from the
// variables its supervisor set at spawn (Bootstrap.swift); the program that was not started
// by the runtime is "MainProcess", as in Python.

/// This process as the runtime sees it: Python's `multiprocessing.current_process()`.
///
/// ```swift
/// let me = Multiprocessing.currentProcess
/// print(me.name, me.pid)      // "MainProcess 4242" in the parent, "Process-1 4250" in a child
/// ```
public struct CurrentProcess: Sendable, CustomStringConvertible {
    /// "MainProcess" in the program that was not started by the runtime; in a child, the
    /// name its parent gave it (``ProcessOptions/name``, or "Process-N", "Process-N:M").
    public let name: String
    /// This process's id.
    public let pid: Int32
    /// Whether this process is a daemon child (terminated, not joined, at its parent's exit).
    public let isDaemon: Bool
    /// The entry this child runs (a ``ProcessFunction``'s or ``Worker``'s name); nil in the
    /// main process.
    public let entry: String?

    public var description: String {
        "\(name) (pid \(pid)\(isDaemon ? ", daemon" : "")\(entry.map { ", entry \($0)" } ?? ""))"
    }
}

/// The process that started this one: Python's `multiprocessing.parent_process()`. It can be
/// asked whether it is alive and waited for, as Python's parent sentinel can.
///
/// ```swift
/// if let parent = Multiprocessing.parentProcess {
///     print("started by \(parent.name) (pid \(parent.pid))")
///     _ = try await parent.join(timeout: .seconds(1))   // true once it has exited
/// }
/// ```
///
/// The handle holds a pidfd opened when it was first asked for, so a recycled pid is never
/// mistaken for the parent.
public final class ParentProcess: Sendable, CustomStringConvertible {
    /// The parent's name as it knew itself ("MainProcess" for the program the user started).
    public let name: String
    /// The parent's process id.
    public let pid: Int32
    /// nil when the parent had already gone when the handle was made.
    private let handle: PidFD?

    init(name: String, pid: Int32) {
        self.name = name
        self.pid = pid
        // The child runs only while the parent lives (parent-death signal), so the pid is
        // still the parent's when the child asks.
        handle = try? PidFD.open(pid: pid)
    }

    deinit { try? handle?.close() }

    /// Whether the parent is still running.
    public var isAlive: Bool {
        guard let handle else { return false }
        return (try? handle.descriptor.waitUntilReadable(timeout: .zero)) == false
    }

    /// Waits until the parent exits, up to `timeout` (nil: no limit), off Swift's thread pool;
    /// true once it has exited, false if the timeout passed first (a negative timeout means
    /// zero). Honours task cancellation.
    /// A child that is tied to its parent's life (every child of this runtime) is usually
    /// killed before it could see that, so this is mostly useful with a timeout.
    public func join(timeout: Duration? = nil) async throws -> Bool {
        let timeout = timeout.map { max($0, .zero) }
        guard let handle, isAlive else { return true }
        if timeout == .zero { return false }
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        switch try await ConnectionPoller.shared().wait(for: handle.descriptor, .readable, until: deadline) {
        case .ready, .interrupted, .notOpen: return true
        case .timedOut: return false
        case .cancelled: throw CancellationError()
        }
    }

    public var description: String { "\(name) (pid \(pid))" }
}

extension Multiprocessing {
    /// The name of the process that was not started by the runtime, as in Python.
    public static let mainProcessName = "MainProcess"

    /// This process: its name, pid, daemon flag and entry. Python's `current_process()`.
    public static var currentProcess: CurrentProcess {
        let entry = ProcessEnvironment.value(ChildEnvironment.entry)
        return CurrentProcess(name: ChildEnvironment.currentName,
                              pid: ProcessControl.id,
                              isDaemon: entry != nil && ProcessEnvironment.value(ChildEnvironment.daemon) == "1",
                              entry: entry)
    }

    /// The process that started this one, nil in the main process. Python's
    /// `parent_process()`.
    public static var parentProcess: ParentProcess? { ParentProcessCache.value }
}

/// One `ParentProcess` per process, made on first use (it owns a pidfd).
private enum ParentProcessCache {
    static let value: ParentProcess? = {
        guard ProcessEnvironment.value(ChildEnvironment.entry) != nil,
              let pid = ProcessEnvironment.value(ChildEnvironment.parent).flatMap(Int32.init) else { return nil }
        return ParentProcess(name: ProcessEnvironment.value(ChildEnvironment.parentName) ?? Multiprocessing.mainProcessName,
                             pid: pid)
    }()
}
