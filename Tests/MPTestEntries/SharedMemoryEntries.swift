import Foundation
import Multiprocessing

/// The entries of the shared memory tests (SharedMemoryTests, SharedValueTests, ArenaTests).
public enum SharedMemoryEntries {
    /// Increments a locked shared value `times` times, each under its lock.
    public struct LockedIncrements: Codable, Sendable {
        public var counter: SharedValue<Int>, times: Int
        public init(counter: SharedValue<Int>, times: Int) { self.counter = counter; self.times = times }
    }
    public static let incrementLocked = ProcessFunction("shm-increment-locked") { (job: LockedIncrements) -> Int in
        for _ in 0..<job.times { try job.counter.withLock { $0 += 1 } }
        return job.times
    }

    /// Adds 1 to a shared atomic `times` times.
    public struct AtomicIncrements: Codable, Sendable {
        public var counter: SharedAtomic<Int>, times: Int
        public init(counter: SharedAtomic<Int>, times: Int) { self.counter = counter; self.times = times }
    }
    public static let incrementAtomic = ProcessFunction("shm-increment-atomic") { (job: AtomicIncrements) -> Int in
        for _ in 0..<job.times { try job.counter.add(1) }
        return job.times
    }

    /// Sets element i of the array to i * 0.5, then answers the sum it wrote.
    public static let fillArray = ProcessFunction("shm-fill-array") { (array: SharedArray<Double>) -> Double in
        try array.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices { buffer[index] = Double(index) * 0.5 }
            return buffer.reduce(0, +)
        }
    }

    /// Reads a `SharedValue<Int32>`: started with a handle of another type, its argument
    /// does not decode (the test's bad-input case across processes).
    public static let readInt32 = ProcessFunction("shm-read-int32") { (value: SharedValue<Int32>) -> Int32 in
        try value.load()
    }

    /// Creates a segment named `name` of 4096 bytes, writes "hello" at its start, sets
    /// `ready` to 1, then sleeps until it is killed.
    public struct CreateSegment: Codable, Sendable {
        public var name: String, ready: SharedAtomic<Int>
        public init(name: String, ready: SharedAtomic<Int>) { self.name = name; self.ready = ready }
    }
    public static let createSegmentAndWait = ProcessFunction("shm-create-segment-and-wait") { (job: CreateSegment) -> Int in
        let segment = try SharedMemory(size: 4096, name: job.name)
        segment.buffer.copyBytes(from: Array("hello".utf8))
        try job.ready.store(1)
        try await Task.sleep(for: .seconds(600))
        withExtendedLifetime(segment) {}
        return 0
    }

    /// Attaches to the segment it is given and answers its first `count` bytes.
    public struct ReadSegment: Codable, Sendable {
        public var segment: SharedMemory, count: Int
        public init(segment: SharedMemory, count: Int) { self.segment = segment; self.count = count }
    }
    public static let readSegment = ProcessFunction("shm-read-segment") { (job: ReadSegment) -> [UInt8] in
        defer { job.segment.close() }
        return Array(job.segment.buffer.prefix(job.count))
    }

    /// Dies inside an arena allocation (lock held, journal committed, `appliedWrites` of its
    /// writes applied).
    public static let dieInsideAllocation = ProcessFunction("shm-die-inside-allocation") { (appliedWrites: Int) -> Int in
        try ArenaTestHooks.dieInsideAllocation(byteCount: 1000, appliedWrites: appliedWrites)
    }

    /// Takes a shared value's lock and exits holding it.
    public static let dieHoldingValueLock = ProcessFunction("shm-die-holding-value-lock") { (counter: SharedValue<Int>) -> Int in
        try counter.withLock { value -> Int in
            value = 99
            Multiprocessing.exitImmediately(9)
        }
    }

    /// Answers how many of its descriptors are the arena's memfd ("/memfd:mp-arena").
    public static let countArenaDescriptors = ProcessFunction("shm-count-arena-descriptors") { (_: Int) -> Int in
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        return descriptors.filter {
            ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) ?? "").hasPrefix("/memfd:mp-arena")
        }.count
    }

    /// Allocates a locked value set to `initial` and answers its handle (the memory outlives
    /// this child).
    public static let makeValue = ProcessFunction("shm-make-value") { (initial: Int) -> SharedValue<Int> in
        try SharedValue(initial)
    }

    /// Frees the value it is given.
    public static let freeValue = ProcessFunction("shm-free-value") { (value: SharedValue<Int>) -> Int in
        try value.free()
        return 0
    }

    /// A value and two events: the child holds the value, says so with `attached`, waits for
    /// `parentDropped`, then adds 1 under the value's lock and answers what it reads.
    public struct OutliveParent: Codable, Sendable {
        public var value: SharedValue<Int>, attached: Event, parentDropped: Event
        public init(value: SharedValue<Int>, attached: Event, parentDropped: Event) {
            self.value = value; self.attached = attached; self.parentDropped = parentDropped
        }
    }
    public static let outliveParent = ProcessFunction("shm-outlive-parent") { (job: OutliveParent) -> Int in
        job.attached.set()
        guard try await job.parentDropped.wait(timeout: .seconds(60)) else { return -1 }
        return try job.value.withLock { value in
            value += 1
            return value
        }
    }

    /// Creates a segment named `name` of 4096 bytes with `track: false`, writes "kept" at its
    /// start, closes it and returns: the segment must outlive this child.
    public static let createUntrackedSegment = ProcessFunction("shm-create-untracked-segment") { (name: String) -> Int in
        let segment = try SharedMemory(size: 4096, name: name, track: false)
        segment.buffer.copyBytes(from: Array("kept".utf8))
        segment.close()
        return 0
    }

    /// Attaches to the list it is given, sets element 0 to "child" and element 1 to its
    /// count, and answers the elements it reads back.
    public static let writeShareableList = ProcessFunction("shm-write-shareable-list") { (list: ShareableList) -> [String] in
        defer { list.close() }
        try list.set(0, to: "child")
        try list.set(1, to: .int(list.count))
        return try list.elements().map(\.description)
    }

    /// Makes a segment of 64 bytes and a list `[7, "made by a child"]` through the manager it
    /// is given, writes "from the child" at the segment's start, and answers both names.
    public static let makeThroughManager = ProcessFunction("shm-make-through-manager") { (manager: SharedMemoryManager) -> [String] in
        let segment = try manager.sharedMemory(size: 64)
        segment.buffer.copyBytes(from: Array("from the child".utf8))
        let list = try manager.shareableList([7, "made by a child"])
        defer { segment.close(); list.close() }
        return [segment.name, list.name]
    }

    public static let functions: [any ProcessEntry] = [incrementLocked, incrementAtomic, fillArray, readInt32,
                                                       createSegmentAndWait, readSegment, dieInsideAllocation, dieHoldingValueLock,
                                                       countArenaDescriptors, makeValue, freeValue, outliveParent,
                                                       createUntrackedSegment, writeShareableList, makeThroughManager]
    public static let workers: [any Worker.Type] = [SharedCounterWorker.self]
}

/// Answers requests that carry shared handles: adds `amount` to the atomic and, under its
/// lock, to the value, writes `amount` into every element of the array, and answers
/// the new atomic value.
public struct SharedCounterWorker: Worker {
    public struct Job: Codable, Sendable {
        public var atomic: SharedAtomic<Int>, value: SharedValue<Int>, array: SharedArray<Int>, amount: Int
        public init(atomic: SharedAtomic<Int>, value: SharedValue<Int>, array: SharedArray<Int>, amount: Int) {
            self.atomic = atomic; self.value = value; self.array = array; self.amount = amount
        }
    }
    public init() {}
    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(Job.self) {
            let job = request.value
            try job.value.withLock { $0 += job.amount }
            try job.array.withLock { buffer in for index in buffer.indices { buffer[index] = job.amount } }
            try request.reply(try job.atomic.add(job.amount))
        }
    }
}

/// `MPTestWorker --demo-shm MODE`: a root process for the segment cleanup tests. It creates
/// one segment itself and starts a child that creates another, prints
/// "ready PARENT-SEGMENT CHILD-SEGMENT CHILD-PID" and then, by MODE:
/// - `crash-then-exit`: kills the child with SIGKILL, joins it, and returns (a normal exit);
/// - `wait`: sleeps until a signal ends it (the test sends SIGTERM).
public enum SharedMemoryDemo {
    public static func run(_ mode: String) async throws {
        let mine = try SharedMemory(size: 8192)
        let ready = try SharedAtomic<Int>(0)
        let childSegment = "mp_demo_\(ProcessInfo.processInfo.processIdentifier)"
        let child = try await ChildProcess.start(SharedMemoryEntries.createSegmentAndWait,
                                                 .init(name: childSegment, ready: ready))
        while try ready.load() == 0 { try await Task.sleep(for: .milliseconds(5)) }
        FileHandle.standardOutput.write(Data("ready \(mine.name) \(childSegment) \(child.pid)\n".utf8))
        switch mode {
        case "crash-then-exit":
            child.kill()
            try await child.join()
        default:
            try await Task.sleep(for: .seconds(600))
        }
        withExtendedLifetime(mine) {}
    }
}
