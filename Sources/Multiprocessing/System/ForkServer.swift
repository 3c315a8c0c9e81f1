#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims
import Synchronization

/// A copy of this executable, started once, that forks the children this process asks for:
/// Python's "forkserver" start method, done where forking is safe.
///
/// Swift cannot fork a process with threads, and a program's `main` already has them. The
/// server is spawned with `MP_FORK_SERVER=1`, and becomes the server in a C constructor
/// (Sources/CShims/mp_fork_server.c), before `main` and before any thread; each child it
/// forks returns from that constructor and runs `main` as a spawned child would, without
/// `exec`, the dynamic loader and its relocations (most of a start: about 14 ms -> 1 ms for a
/// default build here).
///
/// The children are the server's, so it reaps them and reports each status on a pipe; a
/// reader thread keeps them for ``takeStatus(of:within:)``. The requests go over a
/// `SOCK_SEQPACKET` socket, from the spawning thread only (the supervisor's loop).
///
/// ```swift
/// let server = try ForkServer.start(executable: path, environment: environment)
/// let pid = try server.spawn(SpawnOptions(arguments: [], environment: childEnvironment, workingDirectory: nil,
///                                         descriptors: [input, output])).get()
/// let pidfd = try PidFD.open(pid: pid)        // not our child: signal it, poll it
/// let status = server.takeStatus(of: pid, within: .seconds(2))
/// ```
final class ForkServer: Sendable {
    /// The executable the server runs (only children of this executable can be forked).
    let executable: String
    /// The server process (our child; reaped by the status reader once it ended).
    let process: PidFD
    private let requests: FileDescriptor
    private let statusPipe: FileDescriptor
    private let statuses = Mutex<[pid_t: TerminationStatus]>([:])
    /// 0: starting (its ready word not read yet), 1: serving, 2: ended (or refused).
    private let phase = Atomic<Int>(0)
    private let ending = Atomic<Bool>(false)

    private init(executable: String, process: PidFD, requests: FileDescriptor, statusPipe: FileDescriptor) {
        self.executable = executable
        self.process = process
        self.requests = requests
        self.statusPipe = statusPipe
    }

    /// Spawns the server (posix_spawn, from the calling thread: the server dies with it, by
    /// `PR_SET_PDEATHSIG`, so call it on a thread that lives as long as its children should).
    /// It is not ready yet: ``isReady`` says when it is (its own start takes a spawn's time).
    static func launch(executable: String, environment: [String: String]) throws(SystemError) -> ForkServer {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError(.current, operation: "socketpair(SOCK_SEQPACKET)")
        }
        let mine = FileDescriptor(rawValue: pair[0]), theirs = FileDescriptor(rawValue: pair[1])
        let statusPipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do { statusPipe = try FileDescriptor.pipe() } catch {
            _ = mine._close(); _ = theirs._close()
            throw error
        }
        var serverEnvironment = environment
        for name in ChildEnvironment.perChild { serverEnvironment[name] = nil }
        serverEnvironment[MP_FORK_SERVER_VARIABLE] = "1"
        // The loader binds every symbol once, in the server, before it forks: each child
        // would otherwise bind lazily, call by call (about a fifth of a forked start).
        serverEnvironment["LD_BIND_NOW"] = "1"
        serverEnvironment[ChildEnvironment.parent] = String(ProcessControl.id)
        for name in [ChildEnvironment.entry, ChildEnvironment.channel, ChildEnvironment.descriptors, ChildEnvironment.execute] {
            serverEnvironment[name] = nil
        }
        let options = SpawnOptions(arguments: [], environment: serverEnvironment, workingDirectory: nil,
                                   descriptors: [theirs, statusPipe.writeEnd])
        let spawned = Spawner._spawn(executable, options)
        _ = theirs._close()
        _ = statusPipe.writeEnd._close()
        let pid: pid_t
        switch spawned {
        case .success(let value): pid = value
        case .failure(let error):
            _ = mine._close(); _ = statusPipe.readEnd._close()
            throw error
        }
        let process: PidFD
        do { process = try PidFD.open(pid: pid) } catch {
            _ = Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            _ = mine._close(); _ = statusPipe.readEnd._close()
            throw error
        }
        return ForkServer(executable: executable, process: process, requests: mine, statusPipe: statusPipe.readEnd)
    }

    /// Whether it serves: the first true reads its ready word (without waiting) and starts the
    /// status reader; false while it starts, and for good once it ended or refused (a thread
    /// existed in its constructor, where forking would not be safe).
    var isReady: Bool {
        switch phase.load(ordering: .acquiring) {
        case 1: return true
        case 2: return false
        default: break
        }
        guard (try? requests.waitUntilReadable(timeout: .zero)) == true else { return false }
        guard case .success(MP_FORK_SERVER_READY) = receiveAnswer(timeout: .zero) else {
            end()
            return false
        }
        do {
            try OSThread.start(name: "mp-fork-server") { [self] in readStatuses() }
        } catch {
            end()
            return false
        }
        wasEverReady.store(true, ordering: .releasing)
        phase.store(1, ordering: .releasing)
        return true
    }

    /// Whether it ever said it was ready (a server that ended without is not tried again).
    var wasReady: Bool { wasEverReady.load(ordering: .acquiring) }
    private let wasEverReady = Atomic<Bool>(false)

    /// Whether it ended (killed, refused, or stopped and done).
    var hasEnded: Bool { phase.load(ordering: .acquiring) == 2 }

    /// Ends it now, once: SIGKILL (its children die with it) and its status collected. Its
    /// descriptors are closed with the object, never while the loop may still use them.
    private func end() {
        guard !ending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = process._sendSignal(.kill)
        _ = process._wait(block: true)
        _ = Glibc.shutdown(requests.rawValue, Int32(SHUT_RDWR))
        phase.store(2, ordering: .releasing)
    }

    deinit {
        _ = requests._close()
        _ = statusPipe._close()
        _ = process.descriptor._close()
    }

    /// Forks a child with what `options` would give a spawned one (``Spawner``): its standard
    /// descriptors (this process's when inherited), `options.descriptors` from 3 and no others,
    /// and exactly `options.environment` (this process's when nil). The arguments and working
    /// directory are the server's (none): callers fork only children that have none. Returns
    /// its pid (in its own process group, on its way to `main`), or why not. The descriptors
    /// stay the caller's.
    func spawn(_ options: SpawnOptions) -> Result<pid_t, SystemError> {
        var standard: [FileDescriptor] = []
        var opened: [FileDescriptor] = []
        defer { for descriptor in opened { _ = descriptor._close() } }
        for (number, io) in [options.standardInput, options.standardOutput, options.standardError].enumerated() {
            switch io {
            case .inherit: standard.append(FileDescriptor(rawValue: Int32(number)))
            case .descriptor(let descriptor): standard.append(descriptor)
            case .nullDevice:
                switch FileDescriptor._open("/dev/null", number == 0 ? O_RDONLY : O_WRONLY) {
                case .success(let null):
                    opened.append(null)
                    standard.append(null)
                case .failure(let error):
                    return .failure(SystemError(error, operation: "open", subject: .path("/dev/null")))
                }
            }
        }
        return spawn(environment: options.environment ?? ProcessEnvironment.all(), descriptors: standard + options.descriptors)
    }

    /// Forks a child that gets `descriptors` at 0, 1, 2, 3, ... and exactly `environment`.
    private func spawn(environment: [String: String], descriptors: [FileDescriptor]) -> Result<pid_t, SystemError> {
        var block: [UInt8] = []
        for (name, value) in environment {
            block.append(contentsOf: name.utf8)
            block.append(UInt8(ascii: "="))
            block.append(contentsOf: value.utf8)
            block.append(0)
        }
        guard descriptors.count <= Int(MP_FORK_SERVER_MAX_DESCRIPTORS),
              block.count + MemoryLayout<mp_fork_request>.size <= Int(MP_FORK_SERVER_MAX_REQUEST) else {
            return .failure(SystemError(.argumentListTooLong, operation: "fork server request", subject: .path(executable)))
        }
        var header = mp_fork_request(magic: MP_FORK_SERVER_MAGIC, descriptor_count: UInt32(descriptors.count),
                                     environment_bytes: UInt32(block.count), reserved: 0)
        let raw = descriptors.map(\.rawValue)
        let sent = block.withUnsafeBytes { bytes in
            mp_fork_server_send(requests.rawValue, &header, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), raw, Int32(raw.count))
        }
        guard sent == 0 else { return .failure(SystemError(.current, operation: "sendmsg", subject: .path(executable))) }
        switch receiveAnswer(timeout: .seconds(10)) {
        case .success(let pid) where pid > 0: return .success(pid)
        case .success(let error): return .failure(SystemError(Errno(rawValue: -error), operation: "fork", subject: .path(executable)))
        case .failure(let error): return .failure(error)
        }
    }

    /// The status the server reported for `pid`, waiting up to `within` for it (it comes
    /// right after the child's pidfd turned readable); `.signaled(.kill)` if the server itself
    /// is gone (its children die with it), nil if it did not come in time.
    func takeStatus(of pid: pid_t, within: Duration) -> TerminationStatus? {
        let deadline = ContinuousClock.now.advanced(by: within)
        var pause = Duration.microseconds(10)
        while true {
            if let status = statuses.withLock({ $0.removeValue(forKey: pid) }) { return status }
            if hasEnded {
                return statuses.withLock { $0.removeValue(forKey: pid) } ?? .signaled(.kill)
            }
            if ContinuousClock.now >= deadline { return nil }
            usleep(UInt32(pause.roundedUpMicroseconds))
            pause = min(pause * 2, .milliseconds(5))
        }
    }

    /// Asks the server to end once its last child is reaped (its request socket closes); a
    /// server that never became ready is killed.
    func stop() {
        if phase.load(ordering: .acquiring) == 0 { end(); return }
        _ = Glibc.shutdown(requests.rawValue, Int32(SHUT_RDWR))
    }

    /// Kills the server at once (its children die with it).
    func kill() {
        _ = process._sendSignal(.kill)
    }

    /// Waits up to `timeout` for the server to end (after ``stop()`` or ``kill()``); true once
    /// it did and was reaped.
    @discardableResult
    func awaitEnd(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !hasEnded {
            if ContinuousClock.now >= deadline { return false }
            usleep(1000)
        }
        return true
    }

    // MARK: on the server's sockets

    /// One int32 from the request socket (the ready word, a pid or -errno).
    private func receiveAnswer(timeout: Duration) -> Result<Int32, SystemError> {
        switch Result(catching: { () throws(SystemError) in try requests.waitUntilReadable(timeout: timeout) }) {
        case .failure(let error): return .failure(error)
        case .success(false): return .failure(SystemError(.timedOut, operation: "fork server answer", subject: .path(executable)))
        case .success(true): break
        }
        var value: Int32 = 0
        let count = withUnsafeMutableBytes(of: &value) { Glibc.recv(requests.rawValue, $0.baseAddress, $0.count, 0) }
        if count == MemoryLayout<Int32>.size { return .success(value) }
        if count < 0 { return .failure(SystemError(.current, operation: "recv", subject: .path(executable))) }
        return .failure(SystemError(.connectionReset, operation: "fork server answer", subject: .path(executable)))
    }

    /// The reader thread: keeps each reported status until it is taken; once the server's
    /// end of the pipe closes (it ended), reaps it.
    private func readStatuses() {
        var record = mp_fork_status()
        while true {
            let complete = withUnsafeMutableBytes(of: &record) { buffer in (try? statusPipe.readExactly(into: buffer)) ?? false }
            guard complete else { break }
            let status: TerminationStatus = record.code == MP_CLD_EXITED ? .exited(record.status) : .signaled(Signal(rawValue: record.status))
            statuses.withLock { $0[record.pid] = status }
        }
        end()
    }
}

extension Duration {
    /// Whole microseconds, rounded up.
    var roundedUpMicroseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + (attoseconds + 999_999_999_999) / 1_000_000_000_000
    }
}
