#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// A file descriptor number of this process.
///
/// Not owning, as swift-system's `FileDescriptor`: copying it does not duplicate anything,
/// and nothing closes it behind your back. Whoever creates one (``pipe()``,
/// ``duplicate(atLeast:closeOnExec:)``, ``open(_:_:permissions:)``, ...) owns it and must
/// ``close()`` it exactly once. Every descriptor this layer creates is close-on-exec, so a
/// spawn never leaks it into a child unless it is placed there on purpose.
///
/// Each throwing method throws ``SystemError``; the `_name` forms underneath return
/// `Result<_, Errno>` and retry on `EINTR` unless told not to.
struct FileDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The descriptor number.
    var rawValue: Int32

    /// The descriptor numbered `rawValue` (no check that it is open).
    init(rawValue: Int32) { self.rawValue = rawValue }

    /// Standard input, descriptor 0.
    static let standardInput = FileDescriptor(rawValue: 0)
    /// Standard output, descriptor 1.
    static let standardOutput = FileDescriptor(rawValue: 1)
    /// Standard error, descriptor 2.
    static let standardError = FileDescriptor(rawValue: 2)

    var description: String { "fd \(rawValue)" }
    var subject: SystemError.Subject { .descriptor(rawValue) }
}

// MARK: - Reading and writing

extension FileDescriptor {
    func _read(into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true) -> Result<Int, Errno> {
        valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            Glibc.read(rawValue, buffer.baseAddress, buffer.count)
        }
    }

    /// Reads up to `buffer.count` bytes; returns how many were read, 0 at end of file.
    /// The corresponding C function is `read`.
    func read(into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true) throws(SystemError) -> Int {
        try _read(into: buffer, retryOnInterrupt: retryOnInterrupt).get("read", subject)
    }

    /// Reads up to `count` bytes into a new array; an empty array means end of file.
    /// The corresponding C function is `read`.
    func read(upToCount count: Int) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let result = bytes.withUnsafeMutableBytes { _read(into: $0) }
        bytes.removeLast(count - (try result.get("read", subject)))
        return bytes
    }

    func _write(_ bytes: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true) -> Result<Int, Errno> {
        valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            Glibc.write(rawValue, bytes.baseAddress, bytes.count)
        }
    }

    /// Writes up to `bytes.count` bytes once; returns how many were written (a pipe may take
    /// fewer). The corresponding C function is `write`.
    func write(_ bytes: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true) throws(SystemError) -> Int {
        try _write(bytes, retryOnInterrupt: retryOnInterrupt).get("write", subject)
    }

    /// Writes every byte, looping over partial writes and `EINTR`. On failure some prefix
    /// may have been written. On a non-blocking descriptor `EAGAIN` is returned as is.
    func _writeAll(_ bytes: UnsafeRawBufferPointer) -> Result<Void, Errno> {
        var offset = 0
        while offset < bytes.count {
            switch _write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            case .success(let written): offset += written
            case .failure(let error): return .failure(error)
            }
        }
        return .success(())
    }

    /// Writes every byte of `bytes`, however many `write` calls it takes.
    /// The corresponding C function is `write`.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        try _writeAll(bytes).get("write", subject)
    }

    /// Writes every byte of `bytes`. The corresponding C function is `write`.
    func writeAll(_ bytes: some Collection<UInt8>) throws(SystemError) {
        let result = Array(bytes).withUnsafeBytes { _writeAll($0) }
        try result.get("write", subject)
    }

    /// Reads until `buffer` is full or end of file; returns the number of bytes read, which is
    /// less than `buffer.count` only at end of file.
    func _readExactly(into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
        var offset = 0
        while offset < buffer.count {
            switch _read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...])) {
            case .success(0): return .success(offset)
            case .success(let count): offset += count
            case .failure(let error): return .failure(error)
            }
        }
        return .success(offset)
    }

    /// Fills `buffer` completely, however many `read` calls it takes.
    ///
    /// Returns `false` when end of file came before the first byte (a clean end: the peer
    /// closed between messages); throws ``SystemError/Code/endOfFile`` when it came after
    /// some bytes but before the last. The corresponding C function is `read`.
    @discardableResult
    func readExactly(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Bool {
        let count = try _readExactly(into: buffer).get("read", subject)
        if count == buffer.count { return true }
        if count == 0 { return false }
        throw SystemError(.endOfFile, operation: "read", subject: subject,
                          detail: "read \(count) of \(buffer.count) bytes")
    }

    /// Reads until end of file; throws ``SystemError/Code/invalidArgument`` if more than
    /// `limit` bytes arrive. For tests and small outputs (a child's stdout).
    func readToEnd(limit: Int = 1 << 24) throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        while true {
            let chunk = try read(upToCount: 65536)
            if chunk.isEmpty { return result }
            result += chunk
            if result.count > limit {
                throw SystemError(.invalidArgument, operation: "read", subject: subject,
                                  detail: "more than \(limit) bytes before end of file")
            }
        }
    }
}

// MARK: - Lifetime and flags

extension FileDescriptor {
    func _close() -> Result<Void, Errno> {
        // Never retried: on Linux the descriptor is released even when close reports EINTR,
        // and a retry could close a number another thread has just been given.
        nothingOrErrno(retryOnInterrupt: false) { Glibc.close(rawValue) }
    }

    /// Closes the descriptor. Whatever the outcome, the number is no longer this caller's:
    /// never close it twice. The corresponding C function is `close`.
    func close() throws(SystemError) {
        try _close().get("close", subject)
    }

    /// Opens `path` with `flags` (`O_RDONLY`, `O_WRONLY | O_CREAT`, ...); `O_CLOEXEC` is always
    /// added. The caller owns the new descriptor. The corresponding C function is `open`.
    static func _open(_ path: String, _ flags: Int32, permissions: mode_t = 0o644) -> Result<FileDescriptor, Errno> {
        valueOrErrno { Glibc.open(path, flags | O_CLOEXEC, permissions) }.map(FileDescriptor.init(rawValue:))
    }

    /// Opens `path` with `flags`, close-on-exec. The caller owns the descriptor; nothing is
    /// open on failure. The corresponding C function is `open`.
    static func open(_ path: String, _ flags: Int32, permissions: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        try _open(path, flags, permissions: permissions).get("open", .path(path))
    }

    func _duplicate(atLeast floor: Int32, closeOnExec: Bool) -> Result<FileDescriptor, Errno> {
        valueOrErrno { fcntl(rawValue, closeOnExec ? F_DUPFD_CLOEXEC : F_DUPFD, floor) }
            .map(FileDescriptor.init(rawValue:))
    }

    /// A new descriptor for the same open file, numbered `floor` or the lowest free number above
    /// it, close-on-exec unless told otherwise. The caller owns the new descriptor; this one is
    /// untouched. The corresponding C function is `fcntl(F_DUPFD_CLOEXEC)`.
    func duplicate(atLeast floor: Int32 = 0, closeOnExec: Bool = true) throws(SystemError) -> FileDescriptor {
        try _duplicate(atLeast: floor, closeOnExec: closeOnExec).get("fcntl(F_DUPFD_CLOEXEC)", subject)
    }

    private func _updateFlags(get: Int32, set: Int32, _ bit: Int32, _ on: Bool) -> Result<Void, Errno> {
        valueOrErrno { fcntl(rawValue, get) }.flatMap { flags in
            let updated = on ? flags | bit : flags & ~bit
            if updated == flags { return .success(()) }
            return nothingOrErrno { fcntl(rawValue, set, updated) }
        }
    }

    /// Whether the descriptor is closed by `execve` (and so never reaches a spawned child
    /// unless placed there). The corresponding C function is `fcntl(F_GETFD)`.
    func isCloseOnExec() throws(SystemError) -> Bool {
        try valueOrErrno { fcntl(rawValue, F_GETFD) }.get("fcntl(F_GETFD)", subject) & FD_CLOEXEC != 0
    }

    /// Sets or clears `FD_CLOEXEC`. The corresponding C function is `fcntl(F_SETFD)`.
    func setCloseOnExec(_ on: Bool) throws(SystemError) {
        try _updateFlags(get: F_GETFD, set: F_SETFD, FD_CLOEXEC, on).get("fcntl(F_SETFD)", subject)
    }

    /// Whether reads and writes return `EAGAIN` instead of blocking. The flag belongs to the
    /// open file description: every process sharing it sees the change.
    /// The corresponding C function is `fcntl(F_GETFL)`.
    func isNonBlocking() throws(SystemError) -> Bool {
        try valueOrErrno { fcntl(rawValue, F_GETFL) }.get("fcntl(F_GETFL)", subject) & O_NONBLOCK != 0
    }

    /// Sets or clears `O_NONBLOCK` on the open file description (shared with every process that
    /// holds it: give non-blocking use only private pipe ends). The corresponding C function
    /// is `fcntl(F_SETFL)`.
    func setNonBlocking(_ on: Bool) throws(SystemError) {
        try _updateFlags(get: F_GETFL, set: F_SETFL, O_NONBLOCK, on).get("fcntl(F_SETFL)", subject)
    }

    static func _pipe(nonBlocking: Bool = false) -> Result<(readEnd: FileDescriptor, writeEnd: FileDescriptor), Errno> {
        var fds: (Int32, Int32) = (-1, -1)
        return withUnsafeMutableBytes(of: &fds) { raw in
            let pointer = raw.baseAddress!.assumingMemoryBound(to: Int32.self)
            return nothingOrErrno { mp_pipe2(pointer, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) }
        }.map { (FileDescriptor(rawValue: fds.0), FileDescriptor(rawValue: fds.1)) }
    }

    /// A new pipe, both ends close-on-exec (and non-blocking if asked). The caller owns both
    /// ends; nothing is open on failure. The corresponding C function is `pipe2(O_CLOEXEC)`.
    static func pipe(nonBlocking: Bool = false) throws(SystemError) -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
        try _pipe(nonBlocking: nonBlocking).get("pipe2")
    }
}

// MARK: - Polling

/// Events to wait for, or that happened, on a descriptor (`POLLIN`, `POLLOUT`, ...).
struct PollEvents: OptionSet, Hashable, Sendable {
    var rawValue: Int16
    init(rawValue: Int16) { self.rawValue = rawValue }

    /// Data to read, or end of file (`POLLIN`); a pidfd is readable once the process exited.
    static let readable = PollEvents(rawValue: Int16(POLLIN))
    /// Room to write (`POLLOUT`).
    static let writable = PollEvents(rawValue: Int16(POLLOUT))
    /// Error condition (`POLLERR`), always reported.
    static let error = PollEvents(rawValue: Int16(POLLERR))
    /// The peer closed its end (`POLLHUP`), always reported.
    static let hangUp = PollEvents(rawValue: Int16(POLLHUP))
    /// The peer shut its sending side down, or closed (`POLLRDHUP`, Linux): a stream socket's
    /// end of input, reported without waking for data.
    static let peerClosed = PollEvents(rawValue: 0x2000)
    /// The descriptor is not open (`POLLNVAL`), always reported.
    static let invalid = PollEvents(rawValue: Int16(POLLNVAL))
}

extension FileDescriptor {
    /// Waits until one of `descriptors` has one of `events`, or `timeout` passes (`nil` waits
    /// without limit). Returns the events that happened, one entry per descriptor, all empty
    /// on timeout. `EINTR` restarts the wait with the time that is left.
    static func _poll(_ descriptors: [FileDescriptor], for events: PollEvents,
                      timeout: Duration?) -> Result<[PollEvents], Errno> {
        _poll(descriptors.map { ($0, events) }, timeout: timeout)
    }

    /// The same, with the events to wait for given per descriptor.
    static func _poll(_ watched: [(descriptor: FileDescriptor, events: PollEvents)],
                      timeout: Duration?) -> Result<[PollEvents], Errno> {
        var entries = watched.map { pollfd(fd: $0.descriptor.rawValue, events: $0.events.rawValue, revents: 0) }
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now.advanced(by: $0) }
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let left = clock.now.duration(to: deadline)
                milliseconds = left <= .zero ? 0 : Int32(clamping: left.roundedUpMilliseconds)
            }
            let count = entries.withUnsafeMutableBufferPointer {
                Glibc.poll($0.baseAddress, nfds_t($0.count), milliseconds)
            }
            if count >= 0 { return .success(entries.map { PollEvents(rawValue: $0.revents) }) }
            let error = Errno.current
            if error != .interrupted { return .failure(error) }
        }
    }

    /// Waits until one of `descriptors` has one of `events` or `timeout` passes; returns the
    /// events per descriptor (all empty on timeout). The corresponding C function is `poll`.
    static func poll(_ descriptors: [FileDescriptor], for events: PollEvents = .readable,
                     timeout: Duration?) throws(SystemError) -> [PollEvents] {
        try _poll(descriptors, for: events, timeout: timeout).get("poll")
    }

    /// Waits until a read would not block (data, end of file, or an error to report), or
    /// `timeout` passes; returns whether it became readable. The corresponding C function is
    /// `poll`.
    func waitUntilReadable(timeout: Duration?) throws(SystemError) -> Bool {
        try !FileDescriptor._poll([self], for: .readable, timeout: timeout).get("poll", subject)[0].isEmpty
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a wait never ends early.
    var roundedUpMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        let rest = attoseconds % 1_000_000_000_000_000
        return seconds &* 1000 &+ milliseconds &+ (rest > 0 ? 1 : 0)
    }
}

// MARK: - Descriptors of this process

extension FileDescriptor {
    static func _openDescriptors() -> Result<[Int32], Errno> {
        guard let directory = opendir("/proc/self/fd") else { return .failure(.current) }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var numbers: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let number = Int32(name), number != own { numbers.append(number) }
        }
        return .success(numbers.sorted())
    }

    /// The numbers of every descriptor open in this process, sorted, without the one used to
    /// list them. For leak tests: compare before and after. Reads `/proc/self/fd`
    /// (`opendir`/`readdir`).
    static func openDescriptors() throws(SystemError) -> [Int32] {
        try _openDescriptors().get("opendir", .path("/proc/self/fd"))
    }

    /// What the descriptor refers to, as `/proc/self/fd/N` shows it: a path, "pipe:[1234]",
    /// "anon_inode:[pidfd]", "/memfd:name (deleted)". The corresponding C function is `readlink`.
    func target() throws(SystemError) -> String {
        try readSymbolicLink("/proc/self/fd/\(rawValue)").get("readlink", subject)
    }
}

/// The target of the symbolic link at `path`. The corresponding C function is `readlink`.
func readSymbolicLink(_ path: String) -> Result<String, Errno> {
    var capacity = 256
    while true {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let result = buffer.withUnsafeMutableBufferPointer { buffer in
            valueOrErrno { buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: capacity) {
                readlink(path, $0, capacity)
            } }
        }
        switch result {
        case .failure(let error): return .failure(error)
        case .success(let count) where count < capacity:
            return .success(String(decoding: buffer[..<count], as: UTF8.self))
        case .success: capacity *= 4
        }
    }
}
