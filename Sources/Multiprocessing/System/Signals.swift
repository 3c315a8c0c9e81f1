#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// A signal number, with names for the ones the runtime sends or resets.
///
/// ```swift
/// try pidfd.sendSignal(.terminate)
/// print(Signal.kill)   // "SIGKILL"
/// ```
public struct Signal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C signal number.
    public var rawValue: Int32
    /// The signal numbered `rawValue`.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `SIGHUP`: the controlling terminal hung up.
    public static let hangUp = Signal(rawValue: SIGHUP)
    /// `SIGINT`: interrupt from the keyboard (Ctrl-C).
    public static let interrupt = Signal(rawValue: SIGINT)
    /// `SIGQUIT`: quit from the keyboard.
    public static let quit = Signal(rawValue: SIGQUIT)
    /// `SIGABRT`: `abort()`.
    public static let abort = Signal(rawValue: SIGABRT)
    /// `SIGKILL`: cannot be caught, blocked or ignored.
    public static let kill = Signal(rawValue: SIGKILL)
    /// `SIGSEGV`: invalid memory access.
    public static let segmentationFault = Signal(rawValue: SIGSEGV)
    /// `SIGPIPE`: write to a pipe with no reader.
    public static let pipe = Signal(rawValue: SIGPIPE)
    /// `SIGALRM`: timer.
    public static let alarm = Signal(rawValue: SIGALRM)
    /// `SIGTERM`: polite request to terminate.
    public static let terminate = Signal(rawValue: SIGTERM)
    /// `SIGUSR1`.
    public static let user1 = Signal(rawValue: SIGUSR1)
    /// `SIGUSR2`.
    public static let user2 = Signal(rawValue: SIGUSR2)
    /// `SIGCHLD`: a child changed state.
    public static let child = Signal(rawValue: SIGCHLD)
    /// `SIGCONT`: continue if stopped.
    public static let `continue` = Signal(rawValue: SIGCONT)
    /// `SIGSTOP`: stop; cannot be caught, blocked or ignored.
    public static let stop = Signal(rawValue: SIGSTOP)
    /// `SIGTSTP`: stop from the keyboard (Ctrl-Z).
    public static let terminalStop = Signal(rawValue: SIGTSTP)

    /// "SIGKILL", or "signal N" for a number without a name. The corresponding C function is
    /// `sigabbrev_np`.
    public var description: String {
        guard let abbreviation = mp_sigabbrev(rawValue) else { return "signal \(rawValue)" }
        return "SIG" + String(cString: abbreviation)
    }
}

/// A set of signals (`sigset_t`).
struct SignalSet: Sendable, Equatable {
    fileprivate var storage = sigset_t()

    /// The empty set. The corresponding C function is `sigemptyset`.
    static var empty: SignalSet {
        var set = SignalSet()
        sigemptyset(&set.storage)
        return set
    }

    /// Every signal (glibc leaves out the two it uses internally). The corresponding C
    /// function is `sigfillset`.
    static var all: SignalSet {
        var set = SignalSet()
        sigfillset(&set.storage)
        return set
    }

    /// A set of `signals`.
    init(_ signals: some Sequence<Signal>) {
        sigemptyset(&storage)
        for signal in signals { insert(signal) }
    }

    private init() {}

    /// Adds `signal`. The corresponding C function is `sigaddset`.
    mutating func insert(_ signal: Signal) { sigaddset(&storage, signal.rawValue) }
    /// Removes `signal`. The corresponding C function is `sigdelset`.
    mutating func remove(_ signal: Signal) { sigdelset(&storage, signal.rawValue) }
    /// Whether `signal` is in the set. The corresponding C function is `sigismember`.
    func contains(_ signal: Signal) -> Bool {
        var copy = storage
        return sigismember(&copy, signal.rawValue) == 1
    }
    /// The signals in the set, from 1 to `SIGRTMAX`.
    var signals: [Signal] {
        (1...mp_sigrtmax()).map(Signal.init(rawValue:)).filter(contains)
    }
    /// Whether the set has no signal.
    var isEmpty: Bool { signals.isEmpty }

    /// Runs `body` with a pointer to the `sigset_t` (for `posix_spawnattr_setsigmask`).
    func withUnsafePointer<R>(_ body: (UnsafePointer<sigset_t>) throws -> R) rethrows -> R {
        var copy = storage
        return try body(&copy)
    }

    static func == (lhs: SignalSet, rhs: SignalSet) -> Bool { lhs.signals == rhs.signals }
}

/// The calling thread's signal mask. A spawned child inherits the mask of the thread that
/// spawns it (``Spawner`` resets it to empty), and a signal blocked in every thread stays
/// pending until unblocked.
enum SignalMask {
    private static func _change(_ how: Int32, _ set: SignalSet?) -> Result<SignalSet, Errno> {
        var previous = SignalSet.empty
        let result: Int32
        if let set {
            result = set.withUnsafePointer { pthread_sigmask(how, $0, &previous.storage) }
        } else {
            result = pthread_sigmask(how, nil, &previous.storage)
        }
        return returnedErrno { result }.map { previous }
    }

    /// Adds `signals` to the calling thread's mask; returns the previous mask.
    /// The corresponding C function is `pthread_sigmask(SIG_BLOCK)`.
    @discardableResult
    static func block(_ signals: SignalSet) throws(SystemError) -> SignalSet {
        try _change(SIG_BLOCK, signals).get("pthread_sigmask(SIG_BLOCK)")
    }

    /// Removes `signals` from the calling thread's mask; returns the previous mask.
    /// The corresponding C function is `pthread_sigmask(SIG_UNBLOCK)`.
    @discardableResult
    static func unblock(_ signals: SignalSet) throws(SystemError) -> SignalSet {
        try _change(SIG_UNBLOCK, signals).get("pthread_sigmask(SIG_UNBLOCK)")
    }

    /// Replaces the calling thread's mask with `signals`; returns the previous mask.
    /// The corresponding C function is `pthread_sigmask(SIG_SETMASK)`.
    @discardableResult
    static func set(_ signals: SignalSet) throws(SystemError) -> SignalSet {
        try _change(SIG_SETMASK, signals).get("pthread_sigmask(SIG_SETMASK)")
    }

    /// The calling thread's mask. The corresponding C function is `pthread_sigmask`.
    static func current() throws(SystemError) -> SignalSet {
        try _change(SIG_BLOCK, nil).get("pthread_sigmask")
    }

    /// Runs `body` with `signals` blocked in the calling thread, then restores the mask.
    static func withBlocked<R, E: Error>(_ signals: SignalSet, _ body: () throws(E) -> R) throws(E) -> R {
        let previous = try? block(signals)
        defer { if let previous { _ = try? set(previous) } }
        return try body()
    }
}

extension SignalMask {
    /// Gives a process about to `exec` what ``Spawner`` gives a spawned child: an empty mask
    /// on the calling thread (a Swift concurrency pool thread blocks most signals, and `exec`
    /// keeps the caller's mask) and every ignored signal back at its default (`exec` keeps
    /// "ignored"; handlers it resets itself). glibc's internal signals 32 and 33 are left
    /// alone. The corresponding C functions are `pthread_sigmask` and `sigaction`.
    static func resetForExec() {
        _ = try? set(.empty)
        for number in Int32(1)...mp_sigrtmax() where number != SIGKILL && number != SIGSTOP && number != 32 && number != 33 {
            _ = try? Signal(rawValue: number).setIgnored(false)
        }
    }
}

extension Signal {
    /// Sends the signal to the calling thread. The corresponding C function is `raise`.
    func raise() throws(SystemError) {
        try nothingOrErrno { Glibc.raise(rawValue) }.get("raise", .name(description))
    }

    /// Sends the signal to every process in the group `group`; returns `false` when the group
    /// no longer has members (`ESRCH`). A child spawned with its own group has
    /// `group == pid`; the number cannot be reused while the group has a member.
    /// The corresponding C function is `killpg`.
    @discardableResult
    func send(toProcessGroup group: pid_t) throws(SystemError) -> Bool {
        switch nothingOrErrno({ killpg(group, rawValue) }) {
        case .success: return true
        case .failure(.noSuchProcess): return false
        case .failure(let error): throw SystemError(error, operation: "killpg", subject: .pid(group))
        }
    }

    /// Sets this process's disposition for the signal to ignored (`true`) or default
    /// (`false`); returns whether it was ignored before. Handlers are not this layer's
    /// business. A spawned child gets every signal back at default (``Spawner``).
    /// The corresponding C function is `sigaction`.
    @discardableResult
    func setIgnored(_ ignored: Bool) throws(SystemError) -> Bool {
        var previous: Int32 = 0
        try nothingOrErrno { mp_signal_set_ignored(rawValue, ignored ? 1 : 0, &previous) }
            .get("sigaction", .name(description))
        return previous == 1
    }
}

/// Signals turned into bytes on a pipe, so that a thread can handle them with ordinary code
/// (a signal handler may only call async-signal-safe functions).
enum SignalPipe {
    /// Routes `signals` to a new non-blocking pipe and returns its read end, from which each
    /// delivered signal reads as one byte holding its number. The corresponding C function is
    /// `sigaction`.
    static func route(_ signals: [Signal]) throws(SystemError) -> FileDescriptor {
        let pipe = try FileDescriptor.pipe(nonBlocking: true)
        for signal in signals {
            try nothingOrErrno { mp_signal_to_pipe(signal.rawValue, pipe.writeEnd.rawValue) }
                .get("sigaction", .name(signal.description))
        }
        return pipe.readEnd
    }
}
