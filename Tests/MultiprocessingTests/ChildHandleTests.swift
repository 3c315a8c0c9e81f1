#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Multiprocessing

/// `ChildHandle`: the supervisor's hold on a child. A signal after the close never reaches the
/// descriptor number another open reused; the group dies with its leader; nothing is signalled
/// after the reap.
@Suite(.serialized) struct ChildHandleTests {
    static func sleeper(_ command: String = "exec sleep 60") throws -> ChildHandle {
        let pidfd = try Spawner.spawnProcess("/bin/sh", SpawnOptions(arguments: ["-c", command], standardInput: .nullDevice))
        return ChildHandle(pidfd)
    }

    @Test func aSignalAfterTheCloseNeverReachesAReusedDescriptorNumber() throws {
        let first = try Self.sleeper()
        let number = try #require(first.pollDescriptor).rawValue
        // Another process's pidfd: the kernel gives out the lowest free number, the one just
        // closed (checked below, or the test proves nothing).
        first.close()
        let second = try Spawner.spawnProcess("/bin/sleep", SpawnOptions(arguments: ["60"], standardInput: .nullDevice))
        defer { _ = try? second.kill(); _ = try? second.waitForExit(); try? second.close() }
        #expect(second.descriptor.rawValue == number, "the number was not reused; the hazard is not shown")
        // The hazard: the old number now names the second process (what a bare `PidFD` copy,
        // held by a `send` racing the close, would have signalled).
        #expect(try PidFD(descriptor: FileDescriptor(rawValue: number), pid: first.pid).sendSignal(Signal(rawValue: 0)))
        #expect(!first.send(.kill), "a send after the close went out")
        #expect(try second.exitStatusIfExited() == nil, "the second process was signalled")
        // The first one is still ours to end: by its pid, which its zombie-to-be pins.
        _ = Glibc.kill(first.pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(first.pid, &status, 0)
    }

    @Test func theGroupDiesWithItsLeaderAndNothingIsSignalledAfterTheReap() throws {
        try ProcessControl.setChildSubreaper(true)
        defer { try? ProcessControl.setChildSubreaper(false) }
        // The shell starts a background sleep in its group, says its pid and exits.
        let output = try FileDescriptor.pipe()
        defer { try? output.readEnd.close() }
        let pidfd = try Spawner.spawnProcess("/bin/sh", SpawnOptions(arguments: ["-c", "sleep 60 >/dev/null & echo $!"],
                                                                     standardInput: .nullDevice, standardOutput: .descriptor(output.writeEnd)))
        try output.writeEnd.close()
        let handle = ChildHandle(pidfd)
        defer { handle.close() }
        let text = String(decoding: try output.readEnd.readToEnd(limit: 64), as: UTF8.self)
        let sleeper = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try pidfd.descriptor.waitUntilReadable(timeout: .seconds(30)))
        #expect(try handle.reapIfExited() == .exited(0))
        // The sleep was killed before the leader was reaped; it comes here as an orphan.
        var status: Int32 = 0
        #expect(waitpid(sleeper, &status, 0) == sleeper)
        #expect(TerminationStatus(waitStatus: status) == .signaled(.kill))
        #expect(!handle.send(.terminate), "a signal went out after the reap")
    }
}
