import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// SharedValue, SharedArray and SharedAtomic: exact under contention from several processes,
/// passed at spawn and in messages, and refusing bad handles with typed errors.
@Suite(.serialized) struct SharedValueTests {
    init() { TestWorker.use() }

    func roundTrip<T: Codable, U: Decodable>(_ value: T, as type: U.Type) throws -> U {
        try MessagePackDecoder().decode(U.self, from: try MessagePackEncoder().encode(value))
    }

    // MARK: values

    @Test func aLockedValueLoadsStoresAndUpdatesUnderItsLock() throws {
        let value = try SharedValue<Int>(41)
        defer { try? value.free() }
        #expect(value.isLocking)
        #expect(try value.load() == 41)
        let doubled = try value.withLock { number -> Int in
            number += 1
            return number * 2
        }
        #expect(doubled == 84)
        try value.store(-5)
        #expect(try value.load() == -5)
    }

    @Test func aRawValueHasNoLock() throws {
        struct Point: BitwiseCopyable, Equatable { var x: Double, y: Double }
        let raw = try SharedValue(Point(x: 1, y: 2), lock: .none)
        defer { try? raw.free() }
        #expect(try raw.load() == Point(x: 1, y: 2))
        try raw.withUnsafeMutablePointer { $0.pointee.y = 3 }
        #expect(try raw.load().y == 3)
        let error = #expect(throws: SharedMemoryError.self) { try raw.withLock { $0.x += 1 } }
        #expect(error?.code == .noLock)
    }

    @Test func threeProcessesIncrementingUnderTheLockLoseNothing() async throws {
        let counter = try SharedValue<Int>(0)
        defer { try? counter.free() }
        let times = 20_000
        var children: [ChildProcess] = []
        for _ in 0..<2 {
            children.append(try await ChildProcess.start(SharedMemoryEntries.incrementLocked, .init(counter: counter, times: times)))
        }
        for _ in 0..<times { try counter.withLock { $0 += 1 } }
        for child in children { #expect(try await child.join() == .exited(0)) }
        #expect(try counter.load() == 3 * times)
    }

    /// The value's lock is a ``Lock``: a holder that dies does not deadlock the others, and
    /// they are told (ownerDied) until one repairs the value.
    @Test func aProcessKilledHoldingTheLockDoesNotDeadlockTheOthers() async throws {
        let counter = try SharedValue<Int>(0)
        defer { try? counter.free() }
        let child = try await ChildProcess.start(SharedMemoryEntries.dieHoldingValueLock, counter)
        #expect(try await child.join() == .exited(9))
        let died = #expect(throws: SynchronizationError.self) { try counter.withLock { $0 += 1 } }
        #expect(died?.code == .ownerDied)
        var seen = 0
        let repaired = try counter.withLock(recovering: { value in seen = value; value = 0 }) { value -> Int in
            value += 1
            return value
        }
        #expect(seen == 99, "the dead holder's write is there for the repair")
        #expect(repaired == 1)
        #expect(try counter.load() == 1)
        #expect(counter.lock?.ownerDied == false)
    }

    @Test func valuesCanShareOneLock() throws {
        let lock = try Lock()
        let first = try SharedValue<Int>(1, lock: .using(lock))
        let second = try SharedArray<Int>(repeating: 2, count: 3, lock: .using(lock))
        defer { try? first.free(); try? second.free() }
        #expect(first.lock === second.lock)
        let decoded = try roundTrip(first, as: SharedValue<Int>.self)
        try lock.withLock {
            // Taking the shared lock again through a value would deadlock: the Lock says so.
            let error = #expect(throws: SynchronizationError.self) { try decoded.withLock { $0 += 1 } }
            #expect(error?.code == .wouldDeadlock)
        }
        try decoded.withLock { $0 += 1 }
        #expect(try first.load() == 2)
    }

    // MARK: atomics

    @Test func threeProcessesAddingAtomicallyLoseNothing() async throws {
        let counter = try SharedAtomic<Int>(0)
        defer { try? counter.free() }
        let times = 200_000
        var children: [ChildProcess] = []
        for _ in 0..<2 {
            children.append(try await ChildProcess.start(SharedMemoryEntries.incrementAtomic, .init(counter: counter, times: times)))
        }
        for _ in 0..<times { try counter.add(1) }
        for child in children { #expect(try await child.join() == .exited(0)) }
        #expect(try counter.load() == 3 * times)
    }

    @Test func atomicOperations() throws {
        let number = try SharedAtomic<Int64>(10)
        defer { try? number.free() }
        #expect(try number.add(5) == 15)
        #expect(try number.subtract(20) == -5)
        #expect(try number.exchange(100) == -5)
        #expect(try number.compareExchange(expected: 1, desired: 2) == (false, 100))
        #expect(try number.compareExchange(expected: 100, desired: 2) == (true, 100))
        try number.store(Int64.max)
        #expect(try number.add(1) == Int64.min, "add wraps")

        let byte = try SharedAtomic<UInt8>(0)
        defer { try? byte.free() }
        #expect(try byte.subtract(1) == 255, "subtract wraps")
        let word = try SharedAtomic<UInt32>(7)
        defer { try? word.free() }
        #expect(try roundTrip(word, as: SharedAtomic<UInt32>.self).add(1) == 8)
    }

    // MARK: arrays

    @Test func aChildFillsAnArrayTheParentReads() async throws {
        let array = try SharedArray<Double>(repeating: -1, count: 10_000, lock: .none)
        defer { try? array.free() }
        let childSum = try await ChildProcess.run(SharedMemoryEntries.fillArray, array)
        let sum = try array.withUnsafeMutableBufferPointer { $0.reduce(0, +) }
        #expect(sum == childSum)
        #expect(try array[3] == 1.5)
        #expect(try array.toArray().count == 10_000)
    }

    @Test func aLockedArrayAndItsChecks() throws {
        let array = try SharedArray([1, 2, 3])
        defer { try? array.free() }
        #expect(array.count == 3)
        try array.store(30, at: 2)
        #expect(try array.toArray() == [1, 2, 30])
        #expect(try array.withLock { $0.reduce(0, +) } == 33)
        let outside = #expect(throws: SharedMemoryError.self) { try array.load(at: 3) }
        #expect(outside?.code == .indexOutOfRange)
        #expect(outside?.message.contains("index 3") == true)
        #expect(throws: SharedMemoryError.self) { try array.store(0, at: -1) }
        let negative = #expect(throws: SharedMemoryError.self) { try SharedArray<Int>(repeating: 0, count: -1) }
        #expect(negative?.code == .invalidArgument)
        let huge = #expect(throws: SharedMemoryError.self) { try SharedArray<Int>(repeating: 0, count: 1 << 40) }
        #expect(huge?.code == .tooLarge)
        let empty = try SharedArray<Int>([], lock: .none)
        #expect(try empty.toArray() == [])
        try empty.free()
    }

    // MARK: handles travel

    @Test func handlesInAMessageToAWorkerReachTheSameMemory() async throws {
        let atomic = try SharedAtomic<Int>(0)
        let value = try SharedValue<Int>(0)
        let array = try SharedArray<Int>(repeating: 0, count: 4)
        defer { try? atomic.free(); try? value.free(); try? array.free() }
        let worker = try await ChildProcess.start(SharedCounterWorker.self)
        let job = SharedCounterWorker.Job(atomic: atomic, value: value, array: array, amount: 5)
        #expect(try await worker.request(job, as: Int.self) == 5)
        #expect(try await worker.request(job, as: Int.self) == 10)
        worker.closeMailbox()
        #expect(try await worker.join() == .exited(0))
        #expect(try atomic.load() == 10)
        #expect(try value.load() == 10)
        #expect(try array.toArray() == [5, 5, 5, 5])
    }

    @Test func aValueAllocatedByAChildOutlivesItAndAFreeByAChildIsSeenHere() async throws {
        let value = try await ChildProcess.run(SharedMemoryEntries.makeValue, 42)
        #expect(try value.load() == 42)
        try value.withLock { $0 += 1 }
        _ = try await ChildProcess.run(SharedMemoryEntries.freeValue, value)
        let stale = #expect(throws: SharedMemoryError.self) { try value.load() }
        #expect(stale?.code == .staleHandle)
    }

    @Test func aSupervisedWorkerGetsTheArenaToo() async throws {
        let atomic = try SharedAtomic<Int>(0)
        let value = try SharedValue<Int>(0)
        let array = try SharedArray<Int>(repeating: 0, count: 2)
        defer { try? atomic.free(); try? value.free(); try? array.free() }
        let tree = Supervisor(children: [.worker("counter", SharedCounterWorker.self)])
        try await tree.start()
        let job = SharedCounterWorker.Job(atomic: atomic, value: value, array: array, amount: 3)
        let reply: Int = try await #require(await tree.child("counter")).request(job)
        await tree.shutdown()
        #expect(reply == 3)
        #expect(try value.load() == 3)
    }

    @Test func aChildHoldsExactlyOneArenaDescriptor() async throws {
        #expect(try await ChildProcess.run(SharedMemoryEntries.countArenaDescriptors, 0) == 1)
    }

    // MARK: bad input

    @Test func aHandleDecodedAsAnotherTypeIsATypeMismatch() throws {
        let value = try SharedValue<Int>(1)
        defer { try? value.free() }
        let wrongType = #expect(throws: SharedMemoryError.self) { try roundTrip(value, as: SharedValue<Int32>.self) }
        #expect(wrongType?.code == .typeMismatch)
        #expect(wrongType?.message.contains("Swift.Int32") == true, "\(String(describing: wrongType))")
        // Same element type, another kind: the arena's type tag tells them apart.
        let atomic = #expect(throws: SharedMemoryError.self) { try roundTrip(value, as: SharedAtomic<Int>.self) }
        #expect(atomic?.code == .typeMismatch)
        #expect(try roundTrip(value, as: SharedValue<Int>.self).load() == 1)
    }

    @Test func aHandleOfAnotherSizeIsASizeMismatch() throws {
        let array = try SharedArray<Int>(repeating: 0, count: 8)
        defer { try? array.free() }
        let encoded = try MessagePackDecoder().decode(MessagePackValue.self, from: try MessagePackEncoder().encode(array))
        func replacing(_ key: String, with value: MessagePackValue) throws -> [UInt8] {
            guard case .map(let entries) = encoded else { throw SharedMemoryError(.invalidArgument, "not a map") }
            return try MessagePackEncoder().encode(MessagePackValue.map(entries.map { $0.key == .string(key) ? ($0.key, value) : $0 }))
        }
        let count = #expect(throws: SharedMemoryError.self) {
            try MessagePackDecoder().decode(SharedArray<Int>.self, from: try replacing("count", with: .int(9)))
        }
        #expect(count?.code == .sizeMismatch)
    }

    @Test func aFreedHandleIsStaleEverywhere() throws {
        let value = try SharedValue<Int>(3)
        let copy = try roundTrip(value, as: SharedValue<Int>.self)
        try value.free()
        for handle in [value, copy] {
            let load = #expect(throws: SharedMemoryError.self) { try handle.load() }
            #expect(load?.code == .staleHandle)
            #expect(load?.message.contains("offset") == true)
        }
        #expect((#expect(throws: SharedMemoryError.self) { try copy.withLock { $0 += 1 } })?.code == .staleHandle)
        #expect((#expect(throws: SharedMemoryError.self) { try copy.free() })?.code == .staleHandle)
        #expect((#expect(throws: SharedMemoryError.self) { try roundTrip(value, as: SharedValue<Int>.self) })?.code == .staleHandle)
        // Reallocating the same block does not revive the old handle.
        let reused = try SharedValue<Int>(4)
        defer { try? reused.free() }
        #expect((#expect(throws: SharedMemoryError.self) { try copy.load() })?.code == .staleHandle)

        let atomic = try SharedAtomic<Int>(0)
        try atomic.free()
        #expect((#expect(throws: SharedMemoryError.self) { try atomic.add(1) })?.code == .staleHandle)
        let array = try SharedArray<Int>(repeating: 0, count: 2)
        try array.free()
        #expect((#expect(throws: SharedMemoryError.self) { try array.withUnsafeMutableBufferPointer { $0[0] } })?.code == .staleHandle)
    }

    @Test func aChildGivenAHandleOfAnotherTypeFailsWithTheTypeMismatch() async throws {
        let value = try SharedValue<Int>(1)
        defer { try? value.free() }
        // The entry reads a SharedValue<Int32>; it is sent a SharedValue<Int>.
        let misdeclared = ProcessFunction<SharedValue<Int>, Int32>(SharedMemoryEntries.readInt32.name) { _ in 0 }
        let error = await #expect(throws: RemoteError.self) { try await ChildProcess.run(misdeclared, value) }
        #expect(error?.message.contains("typeMismatch") == true, "\(String(describing: error))")
    }
}
