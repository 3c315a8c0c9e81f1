#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Multiprocessing

/// The syscall layer (`Sources/Multiprocessing/System/`), exercised with real processes.
///
/// Serialized: several tests count descriptors, zombies or /dev/shm entries before and after.
/// Other suites may still run beside this one in `swift test`; the counting tests therefore
/// compare the numbers they own (their pids, their names) and retry a global count briefly.
@Suite(.serialized)
struct SystemTests {
    // MARK: Exit status and signals through the pidfd

    @Test func exitCodeComesBack() throws {
        let (status, _) = try SystemProbe.run("/bin/sh", ["-c", "exit 3"])
        #expect(status == .exited(3))
    }

    @Test func killThroughPidfdLeavesNoZombie() throws {
        let pid = try Spawner.spawn("/bin/sleep", SpawnOptions(arguments: ["30"], standardInput: .nullDevice))
        let process = try PidFD.open(pid: pid)
        defer { try? process.close() }
        #expect(try process.exitStatusIfExited() == nil)
        #expect(try process.waitForExit(timeout: .milliseconds(20)) == nil)
        #expect(try process.kill())
        #expect(try process.waitForExit() == .signaled(.kill))
        #expect(ProcessControl.status(of: pid) == nil, "reaped: no /proc entry, no zombie")
        #expect(try process.sendSignal(.terminate) == false, "a reaped process is ESRCH")
        #expect(throws: SystemError.self) { try process.waitForExit() }   // ECHILD: collected once
    }

    @Test func terminateAndTimedWait() throws {
        let pid = try Spawner.spawn("/bin/sleep", SpawnOptions(arguments: ["30"], standardInput: .nullDevice))
        let process = try PidFD.open(pid: pid)
        defer { try? process.close() }
        #expect(try process.terminate())
        #expect(try process.waitForExit(timeout: .seconds(10)) == .signaled(.terminate))
        #expect(TerminationStatus.signaled(.terminate).description == "killed by SIGTERM")
        #expect(TerminationStatus.exited(3).description == "exited with code 3")
    }

    @Test func spawnProcessReturnsAHeldChild() throws {
        let process = try Spawner.spawnProcess("/bin/sh", SpawnOptions(arguments: ["-c", "exit 7"]))
        defer { try? process.close() }
        #expect(try process.descriptor.target() == "anon_inode:[pidfd]")
        #expect(try process.waitForExit(timeout: .seconds(10)) == .exited(7))
    }

    // MARK: Descriptors the child sees

    @Test func childSeesExactlyDescriptorsZeroToFour() throws {
        let a = try FileDescriptor.pipe()
        let b = try FileDescriptor.pipe()
        defer { for fd in [a.readEnd, a.writeEnd, b.readEnd, b.writeEnd] { try? fd.close() } }
        // A descriptor that is *not* close-on-exec must not leak either (closefrom).
        let stray = try a.readEnd.duplicate(atLeast: 20, closeOnExec: false)
        defer { try? stray.close() }
        try expectChild(gets: [b.readEnd, a.writeEnd])
    }

    /// Sources numbered inside the target range, swapped: without moving every source above
    /// the range first, the dup2 onto the first number would overwrite the other source.
    ///
    /// In a fresh process the two lowest free numbers are 3 and 4: the brief's case exactly.
    /// The test runner already holds 3 and up, so the pair lands at the lowest free numbers L
    /// and L+1, and the child is given descriptors up to L+1 (fillers below) with the pair
    /// swapped: the same hazard, found by the same code path, without touching descriptors
    /// this process does not own.
    @Test func sourcesInsideTheTargetRangeSwapped() throws {
        let first = try FileDescriptor.pipe()
        let second = try FileDescriptor.pipe()
        defer { for fd in [first.readEnd, first.writeEnd, second.readEnd, second.writeEnd] { try? fd.close() } }
        // Another suite may take a number between the two duplicates: try again a few times.
        var pair: (low: FileDescriptor, high: FileDescriptor)?
        for _ in 0..<20 where pair == nil {
            let low = try first.readEnd.duplicate(atLeast: 3)
            let high = try second.readEnd.duplicate(atLeast: low.rawValue + 1)
            if high.rawValue == low.rawValue + 1 { pair = (low, high) } else { try low.close(); try high.close() }
        }
        let (low, high) = try #require(pair, "no two adjacent free descriptors")
        defer { try? low.close(); try? high.close() }
        let filler = try FileDescriptor.open("/dev/null", O_RDONLY)
        defer { try? filler.close() }
        let lowIndex = Int(low.rawValue - SpawnOptions.firstDescriptor)
        var descriptors = [FileDescriptor](repeating: filler, count: lowIndex + 2)
        descriptors[lowIndex] = high          // target L gets the source at L+1 ...
        descriptors[lowIndex + 1] = low       // ... and target L+1 the source at L
        try expectChild(gets: descriptors)
    }

    /// Spawns a sleeping child with `descriptors` and checks it holds exactly 0 to 2 + count
    /// (0-2 being /dev/null), each from 3 on the same open file as its source.
    private func expectChild(gets descriptors: [FileDescriptor]) throws {
        let options = SpawnOptions(arguments: ["30"], descriptors: descriptors, standardInput: .nullDevice,
                                   standardOutput: .nullDevice, standardError: .nullDevice)
        let pid = try Spawner.spawn("/bin/sleep", options)
        let process = try PidFD.open(pid: pid)
        defer { _ = try? process.kill(); _ = try? process.waitForExit(); try? process.close() }
        let fds = try SystemProbe.stableDescriptors(of: pid)
        #expect(fds == Array(0...Int32(2 + descriptors.count)))
        for (index, source) in descriptors.enumerated() {
            let inChild = try #require(SystemProbe.readLink("/proc/\(pid)/fd/\(3 + index)"))
            #expect(inChild == (try source.target()), "fd \(3 + index) is \(source)")
        }
        #expect(SystemProbe.readLink("/proc/\(pid)/fd/0") == "/dev/null")
    }

    // MARK: Environment, directory, process group, signal mask

    @Test func environmentReachesTheChild() throws {
        let (status, output) = try SystemProbe.run("/usr/bin/env", [], environment: ["MP_TEST_VALUE": "hello world", "B": "2"])
        #expect(status == .exited(0))
        #expect(output == "B=2\nMP_TEST_VALUE=hello world\n")
    }

    @Test func inheritedEnvironmentByDefault() throws {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let (_, output) = try SystemProbe.run("/bin/sh", ["-c", "printf %s \"$PATH\""])
        #expect(output == path)
    }

    @Test func workingDirectoryReachesTheChild() throws {
        let directory = try SystemProbe.temporaryDirectory()
        defer { rmdir(directory) }
        let (status, output) = try SystemProbe.run("/bin/sh", ["-c", "pwd -P"], workingDirectory: directory)
        #expect(status == .exited(0))
        #expect(output == SystemProbe.realPath(directory) + "\n")
        // A relative executable path is resolved against the child's directory.
        let (relative, _) = try SystemProbe.run("../bin/true", [], workingDirectory: "/usr")
        #expect(relative == .exited(0))
    }

    @Test func childLeadsItsOwnProcessGroup() throws {
        let pid = try Spawner.spawn("/bin/sleep", SpawnOptions(arguments: ["30"], standardInput: .nullDevice))
        let process = try PidFD.open(pid: pid)
        defer { try? process.close() }
        #expect(try ProcessControl.processGroup(of: pid) == pid)
        #expect(try ProcessControl.processGroup() != pid)
        #expect(ProcessControl.status(of: pid)?.processGroup == pid)
        #expect(try Signal.terminate.send(toProcessGroup: pid))
        #expect(try process.waitForExit() == .signaled(.terminate))
        #expect(try Signal.terminate.send(toProcessGroup: pid) == false, "group gone")

        var options = SpawnOptions(arguments: ["30"], standardInput: .nullDevice)
        options.newProcessGroup = false
        let same = try PidFD.open(pid: try Spawner.spawn("/bin/sleep", options))
        defer { _ = try? same.kill(); _ = try? same.waitForExit(); try? same.close() }
        #expect(try ProcessControl.processGroup(of: same.pid) == (try ProcessControl.processGroup()))
    }

    /// The child starts with an empty mask and no ignored signal, although the spawning thread
    /// blocks signals (the test runner's threads block most of them already) and this process
    /// ignores SIGPIPE (as SwiftNIO does).
    @Test func childSignalMaskIsEmptyAndNothingIgnored() throws {
        // Left ignored afterwards on purpose: SwiftNIO in another suite may set it ignored at
        // the same moment, and putting it back to default under NIO's feet could kill the run.
        try Signal.pipe.setIgnored(true)
        let before = try SignalMask.current()
        let output = try SignalMask.withBlocked(SignalSet([.user1, .terminate])) { () throws -> String in
            let mine = try #require(SystemProbe.statusField("SigBlk", in: try SystemProbe.readFile("/proc/thread-self/status")))
            #expect(mine & (1 << (UInt64(SIGTERM) - 1)) != 0, "the spawning thread blocks SIGTERM")
            #expect(try SignalMask.current().contains(.user1))
            return try SystemProbe.run("/bin/cat", ["/proc/self/status"]).output
        }
        #expect(try SignalMask.current() == before, "restored")
        #expect(SystemProbe.statusField("SigBlk", in: output) == 0)
        // glibc's posix_spawn leaves its two internal signals (32 SIGCANCEL, 33 SIGSETXID)
        // ignored in every child, whatever the attributes (Python's os.posix_spawn shows the
        // same); nothing else may be ignored.
        let glibcInternal: UInt64 = (1 << 31) | (1 << 32)
        #expect(SystemProbe.statusField("SigIgn", in: output).map { $0 & ~glibcInternal } == 0)
        let parentIgnored = try #require(SystemProbe.statusField("SigIgn", in: try SystemProbe.readFile("/proc/self/status")))
        #expect(parentIgnored & (1 << (UInt64(SIGPIPE) - 1)) != 0)
    }

    // MARK: Errors

    @Test func missingExecutableNamesThePath() throws {
        let path = "/nonexistent/mp-missing-worker"
        let error = try #require(throws: SystemError.self) { try Spawner.spawn(path) }
        #expect(error.code == .executableNotFound)
        #expect(error.subject == .path(path))
        #expect(error.underlyingError == .noSuchFileOrDirectory)
        #expect(error.description.contains(path))
    }

    @Test func notExecutableAndMissingDirectory() throws {
        let directory = try SystemProbe.temporaryDirectory()
        defer { rmdir(directory) }
        let file = directory + "/plain.txt"
        let fd = try FileDescriptor.open(file, O_WRONLY | O_CREAT, permissions: 0o644)
        try fd.close()
        defer { unlink(file) }
        let plain = try #require(throws: SystemError.self) { try Spawner.spawn(file) }
        #expect(plain.code == .notExecutable)
        #expect(plain.description.contains(file))
        let folder = try #require(throws: SystemError.self) { try Spawner.spawn(directory) }
        #expect(folder.code == .notExecutable)
        let cwd = try #require(throws: SystemError.self) {
            try Spawner.spawn("/bin/true", SpawnOptions(workingDirectory: directory + "/missing"))
        }
        #expect(cwd.code == .workingDirectoryNotFound)
        #expect(cwd.description.contains(directory + "/missing"))
        // A child that fails to exec something itself reports 127, the shells' convention.
        #expect(try SystemProbe.run("/bin/sh", ["-c", "exec /nonexistent/mp-missing 2>/dev/null"]).status == .exited(127))
    }

    @Test func errnoAndSystemErrorDescriptions() {
        #expect(Errno.noSuchFileOrDirectory.description == "No such file or directory (ENOENT)")
        #expect(Errno(rawValue: 9999).name == "errno 9999")
        let error = SystemError(.noSuchProcess, operation: "pidfd_open", subject: .pid(42))
        #expect(error.description == "system call failed: pid 42 (pidfd_open: No such process (ESRCH))")
        #expect(Signal.kill.description == "SIGKILL")
    }

    // MARK: Leaks

    /// 1,000 spawn/wait cycles with two descriptors each: no descriptor left open, no zombie.
    @Test func thousandSpawnsLeakNothing() throws {
        try ProcessControl.setChildSubreaper(true)
        #expect(try ProcessControl.isChildSubreaper())
        let before = try FileDescriptor.openDescriptors()
        var pids: [pid_t] = []
        var pipes: Set<String> = []   // "pipe:[inode]": unique, so a leak is found whoever else runs
        for _ in 0..<1000 {
            let channel = try FileDescriptor.pipe()
            pipes.insert(try channel.readEnd.target())
            let options = SpawnOptions(descriptors: [channel.readEnd, channel.writeEnd], standardInput: .nullDevice,
                                       standardOutput: .nullDevice, standardError: .nullDevice)
            let pid = try Spawner.spawn("/bin/true", options)
            let process = try PidFD.open(pid: pid)
            #expect(try process.waitForExit() == .exited(0))
            try process.close()
            try channel.readEnd.close()
            try channel.writeEnd.close()
            pids.append(pid)
        }
        let stillOpen = try FileDescriptor.openDescriptors().filter { fd in
            SystemProbe.readLink("/proc/self/fd/\(fd)").map(pipes.contains) ?? false
        }
        #expect(stillOpen.isEmpty, "descriptors of the spawned pipes still open: \(stillOpen)")
        // And nothing open now that was not open before. Alone (--filter, --no-parallel) the
        // two lists are equal; beside other suites theirs come and go, so only "no new number"
        // is asked, with a retry while they finish.
        #expect(try SystemProbe.eventually(seconds: 5) { Set(try FileDescriptor.openDescriptors()).isSubset(of: before) },
                "open before: \(before), after: \((try? FileDescriptor.openDescriptors()) ?? [])")
        for pid in pids {
            if let status = ProcessControl.status(of: pid) {   // recycled by someone else, or a zombie of ours
                #expect(!(status.isZombie && status.parentID == getpid()), "pid \(pid) left a zombie")
            }
        }
        #expect(try SystemProbe.eventually { try ProcessControl.children().allSatisfy { !$0.isZombie } })
    }

    /// An orphaned grandchild is reparented to this subreaper and reaped by pid.
    @Test func subreaperGetsOrphans() throws {
        try ProcessControl.setChildSubreaper(true)
        let (status, output) = try SystemProbe.run("/bin/sh", ["-c", "/bin/sleep 0.2 >/dev/null & echo $!"])
        #expect(status == .exited(0))
        let orphan = try #require(pid_t(output.split(separator: "\n").first ?? ""))
        #expect(ProcessControl.status(of: orphan)?.parentID == getpid())
        var reaped: (pid: pid_t, status: TerminationStatus)?
        #expect(try SystemProbe.eventually { reaped = try ProcessControl.reapChild(orphan); return reaped != nil })
        #expect(reaped?.pid == orphan)
        #expect(reaped?.status == .exited(0))
    }

    // MARK: Process facts

    @Test func processFacts() throws {
        #expect(ProcessControl.cpuCount >= 1)
        #expect(ProcessControl.cpuCount <= Int(sysconf(Int32(_SC_NPROCESSORS_CONF))))
        #expect(ProcessControl.parentID == getppid())
        #expect(ProcessControl.id == getpid())
        let executable = try ProcessControl.currentExecutablePath()
        #expect(executable.hasPrefix("/"))
        #expect(access(executable, X_OK) == 0)
        // SIGCHLD's default action is to ignore, so this is harmless even if it fired.
        let previous = try ProcessControl.parentDeathSignal()
        try ProcessControl.setParentDeathSignal(.child)
        #expect(try ProcessControl.parentDeathSignal() == .child)
        try ProcessControl.setParentDeathSignal(previous)
        #expect(try ProcessControl.parentDeathSignal() == previous)
    }

    @Test func signalSets() throws {
        var set = SignalSet.empty
        #expect(set.isEmpty)
        set.insert(.user1)
        set.insert(.terminate)
        #expect(set.contains(.user1))
        #expect(!set.contains(.user2))
        #expect(set.signals == [.user1, .terminate])
        set.remove(.user1)
        #expect(set == SignalSet([.terminate]))
        #expect(SignalSet.all.contains(.pipe))
        try Signal.child.raise()                      // default action: ignore
        try Signal(rawValue: 0).send(toProcess: getpid())   // existence check
        #expect(throws: SystemError.self) { try Signal(rawValue: 0).send(toProcess: 999_999) }
    }
}

// MARK: - Helpers

/// Small probes of real processes and /proc shared by the System tests.
enum SystemProbe {
    /// Runs `path` to completion with stdout captured and stdin from /dev/null.
    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
             workingDirectory: String? = nil) throws -> (status: TerminationStatus, output: String) {
        let out = try FileDescriptor.pipe()
        let options = SpawnOptions(arguments: arguments, environment: environment, workingDirectory: workingDirectory,
                                   standardInput: .nullDevice, standardOutput: .descriptor(out.writeEnd))
        let pid: pid_t
        do {
            defer { try? out.writeEnd.close() }
            pid = try Spawner.spawn(path, options)
        } catch {
            try? out.readEnd.close()
            throw error
        }
        let process = try PidFD.open(pid: pid)
        defer { try? process.close() }
        let bytes = try { () throws -> [UInt8] in
            defer { try? out.readEnd.close() }
            return try out.readEnd.readToEnd()
        }()
        return (try process.waitForExit(), String(decoding: bytes, as: UTF8.self))
    }

    /// Retries `condition` every 10 ms for up to `seconds` (other suites may hold descriptors
    /// or children for a moment).
    static func eventually(seconds: Int = 2, _ condition: () throws -> Bool) throws -> Bool {
        for _ in 0..<(seconds * 100) {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }

    /// The descriptor numbers in `/proc/PID/fd`, read until two reads 20 ms apart agree (the
    /// child may open a file for a moment while it starts).
    static func stableDescriptors(of pid: pid_t) throws -> [Int32] {
        func list() -> [Int32] {
            guard let directory = opendir("/proc/\(pid)/fd") else { return [] }
            defer { closedir(directory) }
            var numbers: [Int32] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if let number = Int32(name) { numbers.append(number) }
            }
            return numbers.sorted()
        }
        var previous = list()
        for _ in 0..<50 {
            usleep(20_000)
            let current = list()
            if current == previous { return current }
            previous = current
        }
        return previous
    }

    static func readLink(_ path: String) -> String? {
        try? readSymbolicLink(path).get()
    }

    static func readFile(_ path: String) throws -> String {
        let fd = try FileDescriptor.open(path, O_RDONLY)
        defer { try? fd.close() }
        return String(decoding: try fd.readToEnd(), as: UTF8.self)
    }

    /// The hexadecimal value of a `/proc/.../status` line such as "SigBlk:\t0000000000010000".
    static func statusField(_ name: String, in status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return UInt64(line.dropFirst(name.count + 1).trimmingPrefix { $0 == "\t" || $0 == " " }, radix: 16)
        }
        return nil
    }

    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/mp-systemtests-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemError(.current, operation: "mkdtemp")
        }
        return String(cString: made)
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
