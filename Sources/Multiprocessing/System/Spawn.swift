#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// Where a spawned child's standard input, output or error comes from.
enum StandardIO: Hashable, Sendable {
    /// The parent's descriptor of the same number, if open and not close-on-exec.
    case inherit
    /// `/dev/null` (read-only for input, write-only for output).
    case nullDevice
    /// The given descriptor, duplicated; it stays the caller's.
    case descriptor(FileDescriptor)
}

/// Everything about a spawn but the executable.
struct SpawnOptions: Sendable {
    /// The first descriptor number ``descriptors`` are placed at in the child.
    static let firstDescriptor: Int32 = 3

    /// The arguments after `argv[0]`.
    var arguments: [String] = []
    /// `argv[0]`; the executable path when `nil`.
    var argument0: String? = nil
    /// The child's whole environment; this process's environment when `nil`.
    var environment: [String: String]? = nil
    /// The child's working directory; this process's when `nil`. A relative executable path is
    /// resolved against it.
    var workingDirectory: String? = nil
    /// Descriptors the child gets, at exactly 3, 4, 5, ... in this order (the channel first,
    /// then the arena and spawn-time connections). They stay the caller's, open, whatever
    /// happens: the child gets its own copies.
    var descriptors: [FileDescriptor] = []
    /// The child's standard input.
    var standardInput: StandardIO = .inherit
    /// The child's standard output.
    var standardOutput: StandardIO = .inherit
    /// The child's standard error.
    var standardError: StandardIO = .inherit
    /// Whether the child leads a new process group of its own (pgid = its pid), so a
    /// terminal's Ctrl-C reaches only the supervisor, and the group can be signalled at once.
    var newProcessGroup: Bool = true

    init(arguments: [String] = [], environment: [String: String]? = nil, workingDirectory: String? = nil,
         descriptors: [FileDescriptor] = [], standardInput: StandardIO = .inherit,
         standardOutput: StandardIO = .inherit, standardError: StandardIO = .inherit) {
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.descriptors = descriptors
        self.standardInput = standardInput
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// Starts processes with `posix_spawn`, never `fork` (Swift cannot fork a multithreaded
/// process safely).
///
/// What the child gets, whatever this process's state:
/// - descriptors 0-2 as ``SpawnOptions`` says, ``SpawnOptions/descriptors`` at exactly 3, 4,
///   5, ..., and no other descriptor (`posix_spawn_file_actions_addclosefrom_np`);
/// - an empty signal mask (`POSIX_SPAWN_SETSIGMASK`) and every signal at its default
///   disposition (`POSIX_SPAWN_SETSIGDEF` with a full set), so a `SIGPIPE` ignored here (as
///   SwiftNIO does) is not ignored there (glibc itself leaves its two internal signals, 32
///   and 33, ignored in every `posix_spawn` child; programs linked with glibc reinstall them);
/// - its own process group (`POSIX_SPAWN_SETPGROUP`, pgid 0), unless told otherwise;
/// - the environment and working directory of ``SpawnOptions``.
///
/// Every source descriptor is first duplicated above the target range
/// (`F_DUPFD_CLOEXEC`), so a source that happens to be 3 is not overwritten by the dup2
/// onto 3 before it is read; the duplicates are closed before returning.
///
/// The child does not set `PR_SET_PDEATHSIG` (`posix_spawn` cannot): the child does it
/// itself, and it is tied to the spawning *thread*, so spawn from one long-lived thread.
enum Spawner {
    /// Spawns `executable` (a path: no `PATH` search) and returns the child's pid. Open a
    /// ``PidFD`` for it at once and reap it through that. The descriptors in `options` stay
    /// the caller's on success and on failure.
    static func _spawn(_ executable: String, _ options: SpawnOptions) -> Result<pid_t, SystemError> {
        if let failure = check(executable, options) { return .failure(failure) }

        // Move every source above the target range before any dup2 runs in the child.
        let floor = SpawnOptions.firstDescriptor + Int32(options.descriptors.count)
        var moved: [FileDescriptor] = []
        defer { for fd in moved { _ = fd._close() } }
        func move(_ fd: FileDescriptor) -> Result<FileDescriptor, SystemError> {
            switch fd._duplicate(atLeast: floor, closeOnExec: true) {
            case .success(let copy):
                moved.append(copy)
                return .success(copy)
            case .failure(let error):
                return .failure(SystemError(error, operation: "fcntl(F_DUPFD_CLOEXEC)", subject: fd.subject))
            }
        }
        var placements: [(source: FileDescriptor, target: Int32)] = []
        var nullDevice: [Int32] = []
        for (target, io) in [options.standardInput, options.standardOutput, options.standardError].enumerated() {
            switch io {
            case .inherit: break
            case .nullDevice: nullDevice.append(Int32(target))
            case .descriptor(let fd):
                switch move(fd) {
                case .success(let copy): placements.append((copy, Int32(target)))
                case .failure(let error): return .failure(error)
                }
            }
        }
        for (index, fd) in options.descriptors.enumerated() {
            switch move(fd) {
            case .success(let copy): placements.append((copy, SpawnOptions.firstDescriptor + Int32(index)))
            case .failure(let error): return .failure(error)
            }
        }

        let actions = UnsafeMutablePointer<posix_spawn_file_actions_t>.allocate(capacity: 1)
        defer { actions.deallocate() }
        let attributes = UnsafeMutablePointer<posix_spawnattr_t>.allocate(capacity: 1)
        defer { attributes.deallocate() }
        func failed(_ operation: String) -> (Errno) -> SystemError {
            { SystemError($0, operation: operation, subject: .path(executable)) }
        }

        if case .failure(let error) = returnedErrno({ posix_spawn_file_actions_init(actions) }) {
            return .failure(failed("posix_spawn_file_actions_init")(error))
        }
        defer { posix_spawn_file_actions_destroy(actions) }
        if case .failure(let error) = returnedErrno({ posix_spawnattr_init(attributes) }) {
            return .failure(failed("posix_spawnattr_init")(error))
        }
        defer { posix_spawnattr_destroy(attributes) }

        var setUp: Result<Void, Errno> = .success(())
        func step(_ body: () -> Int32) {
            if case .success = setUp { setUp = returnedErrno(body) }
        }
        if let directory = options.workingDirectory {
            step { mp_spawn_file_actions_addchdir(actions, directory) }
        }
        for target in nullDevice {
            step { posix_spawn_file_actions_addopen(actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0) }
        }
        for (source, target) in placements {
            step { posix_spawn_file_actions_adddup2(actions, source.rawValue, target) }
        }
        step { mp_spawn_file_actions_addclosefrom(actions, floor) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if options.newProcessGroup { flags |= Int32(POSIX_SPAWN_SETPGROUP) }
        step { posix_spawnattr_setflags(attributes, Int16(flags)) }
        step { SignalSet.empty.withUnsafePointer { posix_spawnattr_setsigmask(attributes, $0) } }
        step { SignalSet.all.withUnsafePointer { posix_spawnattr_setsigdefault(attributes, $0) } }
        if options.newProcessGroup { step { posix_spawnattr_setpgroup(attributes, 0) } }
        if case .failure(let error) = setUp { return .failure(failed("posix_spawn_file_actions")(error)) }

        let argv = [options.argument0 ?? executable] + options.arguments
        var pid: pid_t = 0
        let spawned: Result<Void, Errno> = withCStringArray(argv) { argv in
            if let environment = options.environment {
                let entries = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                return withCStringArray(entries) { envp in
                    returnedErrno { posix_spawn(&pid, executable, actions, attributes, argv, envp) }
                }
            }
            return returnedErrno { posix_spawn(&pid, executable, actions, attributes, argv, mp_environ()) }
        }
        switch spawned {
        case .success: return .success(pid)
        case .failure(let error): return .failure(explain(error, executable, options))
        }
    }

    /// Spawns `executable` and returns the child's pid; see ``Spawner``. A missing executable
    /// throws ``SystemError/Code/executableNotFound`` naming its path, one that cannot be run
    /// ``SystemError/Code/notExecutable``, a missing working directory
    /// ``SystemError/Code/workingDirectoryNotFound``. The descriptors in `options` stay the
    /// caller's on success and on failure. The corresponding C function is `posix_spawn`.
    static func spawn(_ executable: String, _ options: SpawnOptions = SpawnOptions()) throws(SystemError) -> pid_t {
        try _spawn(executable, options).get()
    }

    /// Spawns `executable` and opens a pidfd for it at once: the handle the runtime keeps for
    /// every child (signal and reap it only through that). If `pidfd_open` fails (`EMFILE`),
    /// the child is killed and reaped by its pid, which is safe because an unreaped child's
    /// pid cannot be reused, and the error is thrown: no child is left behind. The caller owns
    /// the returned pidfd; the descriptors in `options` stay the caller's either way.
    /// The corresponding C functions are `posix_spawn` and `pidfd_open`.
    static func spawnProcess(_ executable: String, _ options: SpawnOptions = SpawnOptions()) throws(SystemError) -> PidFD {
        let pid = try spawn(executable, options)
        switch PidFD._open(pid: pid) {
        case .success(let process):
            return process
        case .failure(let error):
            _ = Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = valueOrErrno { waitpid(pid, &status, 0) }
            throw SystemError(error, operation: "pidfd_open", subject: .pid(pid))
        }
    }

    /// Refuses, before spawning, what `posix_spawn` would refuse with a vaguer error:
    /// a missing or non-executable file, a missing working directory.
    private static func check(_ executable: String, _ options: SpawnOptions) -> SystemError? {
        if let directory = options.workingDirectory {
            var info = stat()
            if stat(directory, &info) != 0 {
                return SystemError(.workingDirectoryNotFound, operation: "stat", subject: .path(directory),
                                   underlyingError: .current)
            }
            if info.st_mode & S_IFMT != S_IFDIR {
                return SystemError(.workingDirectoryNotFound, operation: "stat", subject: .path(directory),
                                   underlyingError: .notDirectory)
            }
        }
        let resolved = executable.hasPrefix("/") || options.workingDirectory == nil
            ? executable : options.workingDirectory! + "/" + executable
        var info = stat()
        if stat(resolved, &info) != 0 {
            let error = Errno.current
            let code: SystemError.Code = error == .noSuchFileOrDirectory || error == .notDirectory
                ? .executableNotFound : .notExecutable
            return SystemError(code, operation: "stat", subject: .path(executable), underlyingError: error)
        }
        if info.st_mode & S_IFMT != S_IFREG {
            return SystemError(.notExecutable, operation: "stat", subject: .path(executable),
                               detail: "not a regular file")
        }
        if access(resolved, X_OK) != 0 {
            return SystemError(.notExecutable, operation: "access", subject: .path(executable),
                               underlyingError: .current)
        }
        return nil
    }

    /// Names what a `posix_spawn` error number means for this spawn.
    private static func explain(_ error: Errno, _ executable: String, _ options: SpawnOptions) -> SystemError {
        switch error {
        case .noSuchFileOrDirectory, .notDirectory:
            // The file vanished after the check, or the working directory did.
            if let directory = options.workingDirectory, access(directory, F_OK) != 0 {
                return SystemError(.workingDirectoryNotFound, operation: "posix_spawn",
                                   subject: .path(directory), underlyingError: error)
            }
            return SystemError(.executableNotFound, operation: "posix_spawn", subject: .path(executable),
                               underlyingError: error)
        case .permissionDenied, .execFormatError:
            return SystemError(.notExecutable, operation: "posix_spawn", subject: .path(executable),
                               underlyingError: error)
        default:
            return SystemError(error, operation: "posix_spawn", subject: .path(executable))
        }
    }
}

/// Runs `body` with a NULL-terminated C array of copies of `strings` (for argv and envp).
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { for copy in copies { free(copy) } }
    return copies.withUnsafeBufferPointer { body($0.baseAddress!) }
}
