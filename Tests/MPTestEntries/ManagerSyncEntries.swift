import Foundation
import Multiprocessing

/// The entries the manager Sync tests start in `MPTestWorker` children (ManagerSyncTests):
/// each takes its manager proxies in its spawn argument.
public enum ManagerSyncEntries {
    /// Adds 1 to `total` `times` times, each a get and a set under `lock` (without the lock,
    /// the processes would overwrite each other's increments).
    public struct LockedIncrements: Codable, Sendable {
        public var lock: ManagerLock, total: ManagerValue<Int>, times: Int
        public init(lock: ManagerLock, total: ManagerValue<Int>, times: Int) { self.lock = lock; self.total = total; self.times = times }
    }
    public static let lockedIncrements = ProcessFunction("msync.lockedIncrements") { (job: LockedIncrements) -> Int in
        for _ in 0..<job.times {
            try await job.lock.withLock {
                let seen = try await job.total.get()
                try await job.total.set(seen + 1)
            }
        }
        return job.times
    }

    /// Takes `lock`, writes -1 to `state` (a half-done update), sets `holding`, and waits
    /// holding the lock until it is killed.
    public struct HoldLock: Codable, Sendable {
        public var lock: ManagerLock, state: ManagerValue<Int>, holding: ManagerEvent
        public init(lock: ManagerLock, state: ManagerValue<Int>, holding: ManagerEvent) {
            self.lock = lock; self.state = state; self.holding = holding
        }
    }
    public static let holdLock = ProcessFunction("msync.holdLock") { (job: HoldLock) -> Int in
        try await job.lock.withLock {
            try await job.state.set(-1)
            try await job.holding.set()
            try await Task.sleep(for: .seconds(600))
        }
        return 0
    }

    /// Takes one unit of `semaphore`, waiting at most 60 s; whether it got one.
    public static let acquireUnit = ProcessFunction("msync.acquireUnit") { (semaphore: ManagerSemaphore) -> Bool in
        try await semaphore.acquire(timeout: .seconds(60))
    }

    /// A consumer on a condition: waits (at most 60 s) until `tokens > 0`, takes one. Whether
    /// it got one in time.
    public struct Consume: Codable, Sendable {
        public var condition: ManagerCondition, tokens: ManagerValue<Int>, waiting: ManagerValue<Int>
        public init(condition: ManagerCondition, tokens: ManagerValue<Int>, waiting: ManagerValue<Int>) {
            self.condition = condition; self.tokens = tokens; self.waiting = waiting
        }
    }
    public static let consume = ProcessFunction("msync.consume") { (job: Consume) -> Bool in
        try await job.condition.withLock {
            try await job.waiting.add(1)
            guard try await job.condition.wait(for: { try await job.tokens.get() > 0 }, timeout: .seconds(60)) else { return false }
            try await job.tokens.add(-1)
            return true
        }
    }

    /// Waits (at most 60 s) for `event`; whether it was set.
    public static let waitEvent = ProcessFunction("msync.waitEvent") { (event: ManagerEvent) -> Bool in
        try await event.wait(timeout: .seconds(60))
    }

    /// Waits at `barrier` (at most 60 s): "index N", or the `ManagerError` code.
    public static let barrierWait = ProcessFunction("msync.barrierWait") { (barrier: ManagerBarrier) -> String in
        do {
            return "index \(try await barrier.wait(timeout: .seconds(60)))"
        } catch let error as ManagerError {
            return error.code.name
        }
    }

    /// Puts `0..<count` into `queue`, each waiting at most 60 s for room; then waits (60 s) for
    /// every item to be marked done. The count put.
    public struct Produce: Codable, Sendable {
        public var queue: ManagerQueue<Int>, count: Int
        public init(queue: ManagerQueue<Int>, count: Int) { self.queue = queue; self.count = count }
    }
    public static let produce = ProcessFunction("msync.produce") { (job: Produce) -> Int in
        for item in 0..<job.count { try await job.queue.put(item, timeout: .seconds(60)) }
        try await job.queue.join(timeout: .seconds(60))
        return job.count
    }

    /// Gets one item from `queue`, waiting as long as it takes.
    public static let getOne = ProcessFunction("msync.getOne") { (queue: ManagerQueue<Int>) -> Int in
        try await queue.get()
    }

    public static let functions: [any ProcessEntry] = [lockedIncrements, holdLock, acquireUnit, consume, waitEvent, barrierWait, produce, getOne]
}
