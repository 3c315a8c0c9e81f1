import Foundation
import Multiprocessing

/// What a child knows about itself and its parent (`whoAmI`).
public struct Identity: Codable, Sendable, Equatable {
    public var name: String
    public var pid: Int32
    public var isDaemon: Bool
    public var entry: String?
    public var parentName: String?
    public var parentPID: Int32?
    public var parentIsAlive: Bool?
    public var parentJoinTimedOut: Bool?
}

/// A file to write after a pause: shows that a child was let finish.
public struct LateWrite: Codable, Sendable {
    public var path: String
    public var milliseconds: Int
    public init(path: String, milliseconds: Int) {
        self.path = path
        self.milliseconds = milliseconds
    }
}

extension TestEntries {
    /// Answers `Multiprocessing.currentProcess` and `parentProcess` as this child sees them.
    public static let whoAmI = ProcessFunction("whoAmI") { (_: Int) -> Identity in
        let me = Multiprocessing.currentProcess
        let parent = Multiprocessing.parentProcess
        var timedOut: Bool?
        if let parent { timedOut = try await parent.join(timeout: .milliseconds(10)) == false }
        return Identity(name: me.name, pid: me.pid, isDaemon: me.isDaemon, entry: me.entry,
                        parentName: parent?.name, parentPID: parent?.pid, parentIsAlive: parent?.isAlive,
                        parentJoinTimedOut: timedOut)
    }

    /// Sleeps, then writes "done" to the path.
    public static let writeLate = ProcessFunction("writeLate") { (job: LateWrite) -> Int in
        try await Task.sleep(for: .milliseconds(job.milliseconds))
        try Data("done".utf8).write(to: URL(fileURLWithPath: job.path))
        return 0
    }

    static let processFunctions: [any ProcessEntry] = [whoAmI, writeLate] + ApiEntries.functions
}
