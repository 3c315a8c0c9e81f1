import Foundation
import Multiprocessing

/// What `forkServerReport` saw of the children it started with each start method.
public struct ForkServerReport: Codable, Sendable {
    /// This child's pid.
    public var pid: Int32
    /// The parent of a child started with `.spawn`: this process.
    public var spawnedParent: Int32
    /// Default starts until one was forked by the server (the first ones are spawned while it
    /// starts), or -1 if none was within the tries.
    public var startsUntilForked: Int
    /// The parent of the forked children: the server.
    public var serverPID: Int32
    /// The server's executable, and this process's.
    public var serverExecutable: String
    public var executable: String
    /// square(7) in a forked child.
    public var forkedResult: Int
    /// A forked child that exits with code 7, and one killed with SIGKILL, as joined here.
    public var exitStatus: String
    public var killedStatus: String
    /// Names a forked child gives its own children (it starts them with a server of its own).
    public var grandchildren: [String]
    /// The forked children's parents (each the server).
    public var forkedParents: [Int32]
    /// Descriptors open beyond 0-2 in a forked child, and in a spawned one.
    public var forkedDescriptors: [Int32]
    public var spawnedDescriptors: [Int32]
    /// A forked child running when its server was killed with SIGKILL, as joined here; and
    /// square(3) started after that.
    public var orphanStatus: String
    public var afterServerKilled: Int
    /// The parent of that last child: a new server, or this process if it was spawned.
    public var lastParent: Int32
    /// The parent of a child asking for other allocator settings (MALLOC_ARENA_MAX): this
    /// process, as a fork would not give them; and of one whose environment differs otherwise.
    public var startUpEnvironmentParent: Int32
    public var otherEnvironmentParent: Int32
}

/// The parent pid of `pid`, from /proc (0 if it is gone).
func parentPID(of pid: Int32) -> Int32 {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 1 ? Int32(fields[1]) ?? 0 : 0
}

extension TestEntries {
    /// The descriptors open in this process, beyond 0, 1 and 2.
    public static let openDescriptors = ProcessFunction("openDescriptors") { (_: Int) -> [Int32] in
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap(Int32.init).filter { $0 > 2 }.sorted()
    }

    /// Starts children of this executable with each start method and reports what it saw.
    public static let forkServerReport = ProcessFunction("forkServerReport") { (_: Int) -> ForkServerReport in
        let me = getpid()
        var spawnOptions = ProcessOptions()
        spawnOptions.startMethod = .spawn
        let spawned = try await ChildProcess.start(TestEntries.sleep, 60_000, options: spawnOptions)
        let spawnedParent = parentPID(of: spawned.pid)
        spawned.kill()
        _ = try await spawned.join()

        var startsUntilForked = -1
        var serverPID: Int32 = 0
        for attempt in 1...300 {
            let child = try await ChildProcess.start(TestEntries.sleep, 60_000)
            let parent = parentPID(of: child.pid)
            child.kill()
            _ = try await child.join()
            if parent != me {
                startsUntilForked = attempt
                serverPID = parent
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let serverExecutable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(serverPID)/exe")) ?? "?"
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "?"

        let square = try await ChildProcess.start(TestEntries.square, 7)
        var forkedParents = [parentPID(of: square.pid)]
        let forkedResult = try await square.value
        try await square.join()

        let exiting = try await ChildProcess.start(TestEntries.exit, 7)
        forkedParents.append(parentPID(of: exiting.pid))
        let exitStatus = (try await exiting.join()).map { "\($0)" } ?? "nil"

        let sleeper = try await ChildProcess.start(TestEntries.sleep, 60_000)
        forkedParents.append(parentPID(of: sleeper.pid))
        sleeper.kill()
        let killedStatus = (try await sleeper.join()).map { "\($0)" } ?? "nil"

        let nesting = try await ChildProcess.start(ApiEntries.nameChildren)
        forkedParents.append(parentPID(of: nesting.pid))
        let grandchildren = try await nesting.value
        try await nesting.join()

        let looking = try await ChildProcess.start(TestEntries.openDescriptors, 0)
        forkedParents.append(parentPID(of: looking.pid))
        let forkedDescriptors = try await looking.value
        try await looking.join()

        var environmentOptions = ProcessOptions()
        environmentOptions.environment = ProcessInfo.processInfo.environment.merging(["MALLOC_ARENA_MAX": "2"]) { $1 }
        let startUp = try await ChildProcess.start(TestEntries.sleep, 60_000, options: environmentOptions)
        let startUpEnvironmentParent = parentPID(of: startUp.pid)
        startUp.kill()
        _ = try await startUp.join()
        environmentOptions.environment = ProcessInfo.processInfo.environment.merging(["MP_TEST_COLOUR": "blue"]) { $1 }
        let other = try await ChildProcess.start(TestEntries.sleep, 60_000, options: environmentOptions)
        let otherEnvironmentParent = parentPID(of: other.pid)
        other.kill()
        _ = try await other.join()

        let spawnedLooking = try await ChildProcess.start(TestEntries.openDescriptors, 0, options: spawnOptions)
        let spawnedDescriptors = try await spawnedLooking.value
        try await spawnedLooking.join()

        let orphan = try await ChildProcess.start(TestEntries.sleep, 60_000)
        forkedParents.append(parentPID(of: orphan.pid))
        kill(serverPID, SIGKILL)
        let orphanStatus = "\(try await orphan.join(timeout: .seconds(20)).map { "\($0)" } ?? "still running")"
        let after = try await ChildProcess.start(TestEntries.square, 3)
        let lastParent = parentPID(of: after.pid)
        let afterServerKilled = try await after.value
        try await after.join()

        return ForkServerReport(pid: me, spawnedParent: spawnedParent, startsUntilForked: startsUntilForked,
                                serverPID: serverPID, serverExecutable: serverExecutable, executable: executable,
                                forkedResult: forkedResult, exitStatus: exitStatus, killedStatus: killedStatus,
                                grandchildren: grandchildren, forkedParents: forkedParents, forkedDescriptors: forkedDescriptors,
                                spawnedDescriptors: spawnedDescriptors, orphanStatus: orphanStatus, afterServerKilled: afterServerKilled,
                                lastParent: lastParent, startUpEnvironmentParent: startUpEnvironmentParent,
                                otherEnvironmentParent: otherEnvironmentParent)
    }

    static let forkServerFunctions: [any ProcessEntry] = [openDescriptors, forkServerReport]
}
