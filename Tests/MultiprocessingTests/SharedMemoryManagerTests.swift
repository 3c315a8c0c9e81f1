import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// SharedMemoryManager (Python's managers.SharedMemoryManager): every segment it makes, in
/// this process or a child, is unlinked at its shutdown or its owner's deinit, and no other.
@Suite(.serialized) struct SharedMemoryManagerTests {
    init() { TestWorker.use() }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "/dev/shm/\(name)") }

    @Test func shutdownUnlinksEverySegmentItMade() throws {
        let manager = try SharedMemoryManager()
        let segment = try manager.sharedMemory(size: 100)
        let list = try manager.shareableList([1, "two", nil])
        defer { segment.close(); list.close() }
        #expect(segment.name.hasPrefix(manager.namePrefix) && list.name.hasPrefix(manager.namePrefix))
        #expect(Set(manager.segmentNames) == [segment.name, list.name])
        #expect(exists(segment.name) && exists(list.name))
        // In the supervisor's segment table: the root unlinks them at exit if nobody does before.
        #expect(try Set(ArenaTestHooks.trackedSegmentNames()).isSuperset(of: [segment.name, list.name]))
        segment.buffer.storeBytes(of: 7, as: Int.self)

        manager.shutdown()
        #expect(manager.isShutDown)
        #expect(!exists(segment.name) && !exists(list.name))
        #expect(manager.segmentNames.isEmpty)
        #expect(try !ArenaTestHooks.trackedSegmentNames().contains(segment.name))
        #expect(segment.buffer.load(as: Int.self) == 7, "mappings outlive the names")
        #expect(try list[1] == "two")

        let refused = #expect(throws: SharedMemoryError.self) { try manager.sharedMemory(size: 8) }
        #expect(refused?.code == .stopped)
        #expect(refused?.message.contains(manager.namePrefix) == true)
        #expect((#expect(throws: SharedMemoryError.self) { try manager.shareableList([1]) })?.code == .stopped)
        manager.shutdown()   // twice: harmless
    }

    @Test func droppingTheManagerShutsItDown() throws {
        var names: [String] = []
        do {
            let manager = try SharedMemoryManager()
            names.append(try manager.sharedMemory(size: 10).name)
            names.append(try manager.shareableList(["x"]).name)
            #expect(names.allSatisfy(exists))
        }
        #expect(!names.contains(where: exists))
    }

    @Test func anotherManagersSegmentsAndOthersStay() throws {
        let first = try SharedMemoryManager(), second = try SharedMemoryManager()
        #expect(first.namePrefix != second.namePrefix)
        let kept = try second.sharedMemory(size: 10)
        let plain = try SharedMemory(size: 10)
        defer { kept.close(); plain.close(); try? plain.unlink() }
        let gone = try first.sharedMemory(size: 10)
        gone.close()
        first.shutdown()
        #expect(!exists(gone.name))
        #expect(exists(kept.name) && exists(plain.name))
        second.shutdown()
        #expect(!exists(kept.name))
    }

    @Test func aChildMakesSegmentsThroughTheManagerAndShutdownFreesThem() async throws {
        let manager = try SharedMemoryManager()
        defer { manager.shutdown() }
        let names = try await ChildProcess.run(SharedMemoryEntries.makeThroughManager, manager)
        #expect(names.count == 2)
        // The child's copy of the manager ended with the child: its segments stay.
        #expect(names.allSatisfy { $0.hasPrefix(manager.namePrefix) && exists($0) })
        #expect(Set(manager.segmentNames) == Set(names))
        let segment = try SharedMemory(attaching: names[0])
        let list = try ShareableList(attaching: names[1])
        defer { segment.close(); list.close() }
        #expect(String(decoding: segment.buffer.prefix(14), as: UTF8.self) == "from the child")
        #expect(try list.elements() == [7, "made by a child"])

        manager.shutdown()
        #expect(!names.contains(where: exists))
        // A child given a manager that was shut down makes nothing.
        let error = await #expect(throws: RemoteError.self) { try await ChildProcess.run(SharedMemoryEntries.makeThroughManager, manager) }
        #expect(error?.message.contains("stopped") == true, "\(String(describing: error))")
        #expect(manager.segmentNames.isEmpty)
    }
}
