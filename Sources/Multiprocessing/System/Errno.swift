#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// An error number reported by the operating system (`errno`).
///
/// The project's own type, not swift-system's (which the package does not depend on); its
/// shape follows swift-system's `Errno`: a raw value, named constants for the numbers the
/// runtime handles, and a description from `strerror_r`.
///
/// ```swift
/// if case .failure(.interrupted) = result { ... }
/// print(Errno.noSuchFileOrDirectory)   // "No such file or directory (ENOENT)"
/// ```
public struct Errno: Error, Hashable, Sendable, RawRepresentable, CustomStringConvertible {
    /// The C error number.
    public var rawValue: Int32

    /// An `Errno` for the C error number `rawValue`.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    static var current: Errno { Errno(rawValue: errno) }

    /// `EPERM`: the operation is not permitted.
    public static let notPermitted = Errno(rawValue: EPERM)
    /// `ENOENT`: no such file or directory.
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    /// `ESRCH`: no such process (for a pidfd: the process has been reaped).
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    /// `EINTR`: a signal interrupted the call; wrappers retry by default.
    public static let interrupted = Errno(rawValue: EINTR)
    /// `EIO`: input/output error.
    public static let ioError = Errno(rawValue: EIO)
    /// `E2BIG`: the argument list (argv + environment) is too long.
    public static let argumentListTooLong = Errno(rawValue: E2BIG)
    /// `ENOEXEC`: the file is not in an executable format.
    public static let execFormatError = Errno(rawValue: ENOEXEC)
    /// `EBADF`: the descriptor is not open (or not open for this operation).
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    /// `ECHILD`: no such child (or its status was already collected).
    public static let noChildProcess = Errno(rawValue: ECHILD)
    /// `EAGAIN`: the operation would block, or a resource is temporarily unavailable.
    public static let resourceTemporarilyUnavailable = Errno(rawValue: EAGAIN)
    /// `EAGAIN` under its other name.
    public static let wouldBlock = Errno(rawValue: EWOULDBLOCK)
    /// `ENOMEM`: out of memory.
    public static let noMemory = Errno(rawValue: ENOMEM)
    /// `EACCES`: permission denied.
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// `EFAULT`: a bad address was passed.
    public static let badAddress = Errno(rawValue: EFAULT)
    /// `EEXIST`: the file (or shared memory object) exists.
    public static let fileExists = Errno(rawValue: EEXIST)
    /// `ENOTDIR`: a path component is not a directory.
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    /// `EISDIR`: the path is a directory.
    public static let isDirectory = Errno(rawValue: EISDIR)
    /// `EINVAL`: an invalid argument.
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// `ENFILE`: the system-wide limit on open files is reached.
    public static let tooManyOpenFilesInSystem = Errno(rawValue: ENFILE)
    /// `EMFILE`: this process's limit on open descriptors is reached.
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    /// `ENOSPC`: no space left on the device.
    public static let noSpace = Errno(rawValue: ENOSPC)
    /// `EPIPE`: the read end of the pipe is closed.
    public static let brokenPipe = Errno(rawValue: EPIPE)
    /// `ENAMETOOLONG`: the path or name is too long.
    public static let fileNameTooLong = Errno(rawValue: ENAMETOOLONG)
    /// `ENOSYS`: the kernel does not implement the call.
    public static let noFunction = Errno(rawValue: ENOSYS)
    /// `ETIMEDOUT`: the operation timed out.
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    /// `EADDRINUSE`: the address (a port, a Unix socket path) is already in use.
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    /// `ECONNREFUSED`: nothing listens at the address.
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    /// `ECONNRESET`: the peer reset the connection.
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    /// `ECONNABORTED`: a queued connection was aborted before it was accepted.
    public static let connectionAborted = Errno(rawValue: ECONNABORTED)
    /// `EINPROGRESS`: a non-blocking connect goes on in the background.
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    /// `EOWNERDEAD`: the owner of a robust mutex died holding it.
    public static let previousOwnerDied = Errno(rawValue: EOWNERDEAD)
    /// `ENOTRECOVERABLE`: a robust mutex's state is not recoverable.
    public static let stateNotRecoverable = Errno(rawValue: ENOTRECOVERABLE)

    /// The C macro name where known ("ENOENT"), else "errno N".
    public var name: String {
        Errno.names[rawValue] ?? "errno \(rawValue)"
    }

    /// The system's message and the macro name: "No such file or directory (ENOENT)".
    /// The corresponding C function is `strerror_r`.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: 256)
        let message = buffer.withUnsafeMutableBufferPointer { buffer in
            String(cString: mp_strerror(rawValue, buffer.baseAddress!, buffer.count))
        }
        return "\(message) (\(name))"
    }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
        E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
        ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EEXIST: "EEXIST",
        ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE",
        EMFILE: "EMFILE", ENOSPC: "ENOSPC", EPIPE: "EPIPE", ENAMETOOLONG: "ENAMETOOLONG",
        ENOSYS: "ENOSYS", ETIMEDOUT: "ETIMEDOUT", EOWNERDEAD: "EOWNERDEAD",
        ENOTRECOVERABLE: "ENOTRECOVERABLE", ETXTBSY: "ETXTBSY", ELOOP: "ELOOP",
        ESPIPE: "ESPIPE", ERANGE: "ERANGE", EDEADLK: "EDEADLK", EBUSY: "EBUSY",
        EADDRINUSE: "EADDRINUSE", ECONNREFUSED: "ECONNREFUSED", ECONNRESET: "ECONNRESET",
        ECONNABORTED: "ECONNABORTED", EINPROGRESS: "EINPROGRESS", ENETUNREACH: "ENETUNREACH",
        EHOSTUNREACH: "EHOSTUNREACH",
    ]
}

/// A failed system operation: what failed (``Code``), the operation (usually the C
/// function), the thing it was about (a path, a pid, a descriptor, a name) and the
/// underlying ``Errno`` where there is one.
///
/// Every throwing wrapper in `System/` throws this; the `Result` forms underneath carry the
/// bare ``Errno``. The code is a struct with static members, so later releases can add codes
/// without breaking a `switch` in user code.
///
/// ```swift
/// // executable not found: /opt/missing/worker (posix_spawn: No such file or directory (ENOENT))
/// ```
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: compare with `==`, do not `switch` exhaustively.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Storage: Hashable, Sendable {
            case systemCallFailed, executableNotFound, notExecutable, workingDirectoryNotFound
            case endOfFile, invalidArgument, timedOut
        }
        private var storage: Storage
        private init(_ storage: Storage) { self.storage = storage }

        /// A system call failed; ``SystemError/underlyingError`` says why.
        public static let systemCallFailed = Code(.systemCallFailed)
        /// The executable to spawn does not exist.
        public static let executableNotFound = Code(.executableNotFound)
        /// The executable to spawn exists but cannot be executed (not a regular file, no
        /// execute permission, or not in an executable format).
        public static let notExecutable = Code(.notExecutable)
        /// The working directory given for a spawn does not exist or is not a directory.
        public static let workingDirectoryNotFound = Code(.workingDirectoryNotFound)
        /// End of file came before the expected number of bytes.
        public static let endOfFile = Code(.endOfFile)
        /// An argument was refused before any system call was made.
        public static let invalidArgument = Code(.invalidArgument)
        /// A wait did not finish within its timeout.
        public static let timedOut = Code(.timedOut)

        public var description: String {
            switch storage {
            case .systemCallFailed: "system call failed"
            case .executableNotFound: "executable not found"
            case .notExecutable: "not executable"
            case .workingDirectoryNotFound: "working directory not found"
            case .endOfFile: "unexpected end of file"
            case .invalidArgument: "invalid argument"
            case .timedOut: "timed out"
            }
        }
    }

    /// The thing an operation was about.
    public enum Subject: Hashable, Sendable, CustomStringConvertible {
        /// A file system path (an executable, a directory, a file).
        case path(String)
        /// A process id.
        case pid(Int32)
        /// A file descriptor number.
        case descriptor(Int32)
        /// A name (a shared memory object, a memfd, a signal).
        case name(String)

        public var description: String {
            switch self {
            case .path(let path): path
            case .pid(let pid): "pid \(pid)"
            case .descriptor(let fd): "fd \(fd)"
            case .name(let name): "\"\(name)\""
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The operation that failed, usually the C function: "posix_spawn", "pidfd_open".
    public var operation: String
    /// The path, pid, descriptor or name the operation was about, if any.
    public var subject: Subject?
    /// The error number behind the failure, if there was one.
    public var underlyingError: Errno?
    /// More words for a human, if any ("read 3 of 8 bytes").
    public var detail: String?

    /// A system error of `code` raised by `operation` about `subject`.
    public init(_ code: Code, operation: String, subject: Subject? = nil,
                underlyingError: Errno? = nil, detail: String? = nil) {
        self.code = code
        self.operation = operation
        self.subject = subject
        self.underlyingError = underlyingError
        self.detail = detail
    }

    /// A ``Code/systemCallFailed`` error for `errno` from `operation`.
    init(_ errno: Errno, operation: String, subject: Subject? = nil) {
        self.init(.systemCallFailed, operation: operation, subject: subject, underlyingError: errno)
    }

    /// "executable not found: /opt/missing/worker (posix_spawn: No such file or directory (ENOENT))".
    public var description: String {
        var text = code.description
        if let subject { text += ": \(subject)" }
        var inner = operation
        if let underlyingError { inner += ": \(underlyingError)" }
        if let detail { inner += "; \(detail)" }
        return text + " (\(inner))"
    }
}

// MARK: - Internal helpers shared by the wrappers

/// Calls `body` until it returns something other than -1 with `EINTR` (unless
/// `retryOnInterrupt` is false); -1 becomes the current `errno`.
@inline(__always)
func valueOrErrno<I: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> I) -> Result<I, Errno> {
    while true {
        let value = body()
        if value != -1 { return .success(value) }
        let error = Errno.current
        if retryOnInterrupt && error == .interrupted { continue }
        return .failure(error)
    }
}

/// Like ``valueOrErrno(retryOnInterrupt:_:)`` for calls whose only success value is 0.
@inline(__always)
func nothingOrErrno<I: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> I) -> Result<Void, Errno> {
    valueOrErrno(retryOnInterrupt: retryOnInterrupt, body).map { _ in () }
}

/// For the `posix_spawn*` and `pthread_*` family, which return the error number instead
/// of setting `errno`: 0 is success.
@inline(__always)
func returnedErrno(_ body: () -> Int32) -> Result<Void, Errno> {
    let value = body()
    return value == 0 ? .success(()) : .failure(Errno(rawValue: value))
}

extension Result where Failure == Errno {
    /// Unwraps the value or throws a ``SystemError`` naming `operation` and `subject`.
    @inline(__always)
    func get(_ operation: String, _ subject: SystemError.Subject? = nil) throws(SystemError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let errno): throw SystemError(errno, operation: operation, subject: subject)
        }
    }
}
