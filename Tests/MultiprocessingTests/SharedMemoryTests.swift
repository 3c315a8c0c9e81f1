import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Named segments (Python's shared_memory.SharedMemory) and the supervisor as their resource
/// tracker: nothing stays in /dev/shm after a normal exit, a child's crash, or SIGTERM.
@Suite(.serialized) struct SharedMemoryTests {
    init() { TestWorker.use() }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "/dev/shm/\(name)") }

    @Test func createAttachCloseUnlink() throws {
        let segment = try SharedMemory(size: 10_000)
        #expect(segment.name.hasPrefix("mp_"))
        #expect(segment.size == 10_000)
        #expect(exists(segment.name))
        #expect(try ArenaTestHooks.trackedSegmentNames().contains(segment.name))
        segment.buffer.storeBytes(of: 0xfeed, toByteOffset: 9_992, as: UInt64.self)

        let attached = try SharedMemory(attaching: segment.name)
        #expect(attached.size == 10_000)
        #expect(attached.buffer.load(fromByteOffset: 9_992, as: UInt64.self) == 0xfeed)
        attached.close()
        #expect(attached.isClosed)
        #expect(attached.buffer.count == 0)
        let closed = #expect(throws: SharedMemoryError.self) { try attached.withUnsafeMutableBytes { $0.count } }
        #expect(closed?.code == .closed)

        try segment.unlink()
        #expect(!exists(segment.name))
        #expect(try !ArenaTestHooks.trackedSegmentNames().contains(segment.name))
        #expect(segment.buffer.load(fromByteOffset: 9_992, as: UInt64.self) == 0xfeed, "a mapping outlives the name")
        let twice = #expect(throws: SharedMemoryError.self) { try segment.unlink() }
        #expect(twice?.code == .segmentNotFound)
        segment.close()
    }

    @Test func aChosenNameAndItsErrors() throws {
        let name = "mp_test_\(getpid())_chosen"
        let segment = try SharedMemory(size: 1, name: "/" + name)
        defer { segment.close(); try? segment.unlink() }
        #expect(segment.name == name)
        let taken = #expect(throws: SharedMemoryError.self) { try SharedMemory(size: 1, name: name) }
        #expect(taken?.code == .segmentExists)
        #expect(taken?.message.contains(name) == true)
    }

    @Test func badInputIsRefusedWithTypedErrors() throws {
        let missing = #expect(throws: SharedMemoryError.self) { try SharedMemory(attaching: "mp_no_such_segment_\(getpid())") }
        #expect(missing?.code == .segmentNotFound)
        #expect(missing?.message.contains("mp_no_such_segment_\(getpid())") == true)
        #expect((#expect(throws: SharedMemoryError.self) { try SharedMemory(size: 0) })?.code == .invalidArgument)
        #expect((#expect(throws: SharedMemoryError.self) { try SharedMemory(size: -4) })?.code == .invalidArgument)
        #expect((#expect(throws: SharedMemoryError.self) { try SharedMemory(size: 1 << 60) })?.code == .tooLarge)
        for bad in ["", "/", "a/b", String(repeating: "x", count: SharedMemory.maximumNameLength + 1)] {
            #expect((#expect(throws: SharedMemoryError.self) { try SharedMemory(size: 8, name: bad) })?.code == .invalidArgument)
            #expect((#expect(throws: SharedMemoryError.self) { try SharedMemory(attaching: bad) })?.code == .invalidArgument)
        }
        #expect((#expect(throws: SharedMemoryError.self) { try SharedMemory.unlink(name: "mp_gone_\(getpid())") })?.code == .segmentNotFound)
    }

    @Test func aSegmentPassedAtSpawnIsAttachedByTheChild() async throws {
        let segment = try SharedMemory(size: 4096)
        defer { segment.close(); try? segment.unlink() }
        segment.buffer.copyBytes(from: Array("shared".utf8))
        let bytes = try await ChildProcess.run(SharedMemoryEntries.readSegment, .init(segment: segment, count: 6))
        #expect(String(decoding: bytes, as: UTF8.self) == "shared")
        // Sent after it is gone: the child's argument does not decode.
        try segment.unlink()
        let error = await #expect(throws: RemoteError.self) {
            try await ChildProcess.run(SharedMemoryEntries.readSegment, .init(segment: segment, count: 6))
        }
        #expect(error?.message.contains("segmentNotFound") == true, "\(String(describing: error))")
    }

    /// A segment's descriptor is closed once it is mapped: none of this process's descriptors
    /// is a /dev/shm file, however many segments it created and attached.
    @Test func creatingAndAttachingLeaksNoDescriptors() throws {
        func segmentDescriptors() throws -> [String] {
            try FileDescriptor.openDescriptors().compactMap { try? FileDescriptor(rawValue: $0).target() }.filter { $0.hasPrefix("/dev/shm/") }
        }
        let kept = try SharedMemory(size: 4096)
        for _ in 0..<50 {
            let other = try SharedMemory(size: 4096)
            let attached = try SharedMemory(attaching: other.name)
            #expect(try segmentDescriptors().isEmpty)
            attached.close()
            try other.unlink()
        }
        #expect(try segmentDescriptors().isEmpty)
        try kept.unlink()
    }

    /// A child that created a segment is killed: the segment stays registered (another process
    /// may still use it) and is unlinked by the root at exit, or by whoever unlinks it.
    @Test func aKilledChildsSegmentStaysTracked() async throws {
        let name = "mp_test_\(getpid())_orphan"
        let ready = try SharedAtomic<Int>(0)
        defer { try? ready.free() }
        let child = try await ChildProcess.start(SharedMemoryEntries.createSegmentAndWait, .init(name: name, ready: ready))
        while try ready.load() == 0 { try await Task.sleep(for: .milliseconds(5)) }
        child.kill()
        #expect(try await child.join() == .signaled(.kill))
        #expect(exists(name))
        #expect(try ArenaTestHooks.trackedSegmentNames().contains(name))
        let orphan = try SharedMemory(attaching: name)
        #expect(String(decoding: orphan.buffer.prefix(5), as: UTF8.self) == "hello")
        orphan.close()
        try SharedMemory.unlink(name: name)
        #expect(!exists(name))
        #expect(try !ArenaTestHooks.trackedSegmentNames().contains(name))
    }

    // MARK: the root's cleanup, in a demo parent (MPTestWorker --demo-shm)

    struct Demo {
        let process: Foundation.Process
        let parentSegment: String, childSegment: String, childPID: Int32
    }

    func launchDemo(_ mode: String) throws -> Demo {
        let demo = Foundation.Process()
        demo.executableURL = URL(fileURLWithPath: TestWorker.path)
        demo.arguments = ["--demo-shm", mode]
        let output = Pipe()
        demo.standardOutput = output
        demo.standardError = FileHandle.nullDevice
        try demo.run()
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        let words = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard words.count == 4, words[0] == "ready", let pid = Int32(words[3]) else {
            demo.terminate()
            demo.waitUntilExit()
            throw SharedMemoryError(.invalidArgument, "the demo said \"\(line)\"")
        }
        return Demo(process: demo, parentSegment: words[1], childSegment: words[2], childPID: pid)
    }

    @Test func aNormalExitAfterAChildCrashLeavesNothingInDevShm() throws {
        let demo = try launchDemo("crash-then-exit")
        defer { if demo.process.isRunning { kill(demo.process.processIdentifier, SIGKILL) } }
        demo.process.waitUntilExit()
        #expect(demo.process.terminationReason == .exit)
        #expect(demo.process.terminationStatus == 0)
        #expect(!exists(demo.parentSegment))
        #expect(!exists(demo.childSegment))
    }

    @Test func sigtermOfTheSupervisorLeavesNothingInDevShm() throws {
        let demo = try launchDemo("wait")
        defer { if demo.process.isRunning { kill(demo.process.processIdentifier, SIGKILL) } }
        #expect(exists(demo.parentSegment) && exists(demo.childSegment))
        kill(demo.process.processIdentifier, SIGTERM)
        demo.process.waitUntilExit()
        #expect(demo.process.terminationStatus == 128 + SIGTERM)
        #expect(!exists(demo.parentSegment))
        #expect(!exists(demo.childSegment))
        #expect(kill(demo.childPID, 0) != 0 || ProcessControl.status(of: demo.childPID)?.state == Character("Z"))
    }

    /// Every process whose parent is `pid`, from `/proc`.
    static func children(of pid: Int32) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { ProcessControl.status(of: $0)?.parentID == pid }
    }

    @Test func sigkillOfTheRootLeavesNothingInDevShm() async throws {
        // Orphans of the demo (its child, its segment tracker) come to this process, which
        // reaps them by pid: no zombie is left.
        try ProcessControl.setChildSubreaper(true)
        defer { try? ProcessControl.setChildSubreaper(false) }
        let demo = try launchDemo("wait")
        defer { if demo.process.isRunning { kill(demo.process.processIdentifier, SIGKILL) } }
        let root = demo.process.processIdentifier
        #expect(exists(demo.parentSegment) && exists(demo.childSegment))
        let tree = Self.children(of: root)
        #expect(tree.contains(demo.childPID))
        // The child, the segment tracker, and the root's fork server (started beside its first
        // child, a copy of the same executable): it and what it forks must die too.
        let rootImage = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(root)/exe")
        let others = tree.filter { $0 != demo.childPID }
        let servers = others.filter { pid in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) == rootImage
                && ProcessControl.status(of: pid).map { !$0.isZombie } == true
                && (try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .isoLatin1))?.contains("MP_FORK_SERVER=1") == true
        }
        #expect(servers.count <= 1 && tree.count == 2 + servers.count,
                "expected the child, the segment tracker and at most a fork server: \(tree) (servers \(servers))")

        kill(root, SIGKILL)
        demo.process.waitUntilExit()
        #expect(demo.process.terminationReason == .uncaughtSignal)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        func dead(_ pid: Int32) -> Bool { ProcessControl.status(of: pid).map(\.isZombie) ?? true }
        while clock.now < deadline, exists(demo.parentSegment) || exists(demo.childSegment) || !tree.allSatisfy(dead) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!exists(demo.parentSegment), "the root's segment is still in /dev/shm")
        #expect(!exists(demo.childSegment), "the child's segment is still in /dev/shm")
        #expect(tree.allSatisfy(dead), "left alive: \(tree.filter { !dead($0) })")
        for pid in tree where ProcessControl.status(of: pid)?.parentID == ProcessControl.id { _ = try? ProcessControl.reapChild(pid) }
        // What the root's fork server had forked was handed here too: reaped as init would.
        for stray in try ProcessControl.children() where stray.isZombie && ChildProcess.activeChildren().allSatisfy({ $0.pid != stray.pid }) {
            _ = try? ProcessControl.reapChild(stray.pid)
        }
        #expect(tree.allSatisfy { ProcessControl.status(of: $0) == nil }, "zombies left: \(tree)")
        // What a failed run left: never leave segments behind for the next test.
        for name in [demo.parentSegment, demo.childSegment] { _ = unlink("/dev/shm/" + name) }
    }
}
