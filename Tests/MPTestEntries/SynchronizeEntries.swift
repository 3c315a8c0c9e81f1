import Foundation
import Multiprocessing
import Synchronization

/// The entries the Synchronize tests start in `MPTestWorker` children: each takes its
/// primitives as handles in its spawn argument (or, for ``receiveEvent``, in a message).
public enum SynchronizeEntries {
    /// A counter with no lock of its own (`RawValue`): only the Lock under test keeps it exact.
    public typealias Counter = SharedValue<Int>

    /// Adds 1 to `counter` `times` times, each a read, a yield and a write under `lock`
    /// (without the lock, processes would overwrite each other's increments).
    public struct Increment: Codable, Sendable {
        public var lock: Lock, counter: Counter, times: Int
        public init(lock: Lock, counter: Counter, times: Int) { self.lock = lock; self.counter = counter; self.times = times }
    }
    public static let increment = ProcessFunction("sync.increment") { (job: Increment) -> Int in
        for _ in 0..<job.times {
            try job.lock.withLock {
                try job.counter.withUnsafeMutablePointer { pointer in
                    let seen = pointer.pointee
                    sched_yield()
                    pointer.pointee = seen + 1
                }
            }
        }
        return job.times
    }

    /// Takes the lock (an RLock twice), writes -1 to `state` (a half-done update), sets
    /// `holding`, and sleeps inside the lock until it is killed.
    public struct HoldAndWait: Codable, Sendable {
        public var lock: Lock?, rlock: RLock?, state: Counter, holding: Event
        public init(lock: Lock? = nil, rlock: RLock? = nil, state: Counter, holding: Event) {
            self.lock = lock; self.rlock = rlock; self.state = state; self.holding = holding
        }
    }
    public static let holdAndWait = ProcessFunction("sync.holdAndWait") { (job: HoldAndWait) -> Int in
        let hold = {
            try job.state.withUnsafeMutablePointer { $0.pointee = -1 }
            job.holding.set()
            while true { sleep(60) }
        }
        if let lock = job.lock { try lock.withLock(hold) }
        if let rlock = job.rlock { try rlock.withLock { try rlock.withLock(hold) } }
        return 0
    }

    /// Tries to release locks this process does not hold; answers each error's code.
    public struct ReleaseForeign: Codable, Sendable {
        public var lock: Lock, rlock: RLock
        public init(lock: Lock, rlock: RLock) { self.lock = lock; self.rlock = rlock }
    }
    public static let releaseForeign = ProcessFunction("sync.releaseForeign") { (job: ReleaseForeign) -> [String] in
        func code(_ body: () throws -> Void) -> String {
            do { try body(); return "released" } catch let error as SynchronizationError { return error.code.name } catch { return "\(error)" }
        }
        return [code { try job.lock.release() }, code { try job.rlock.release() }]
    }

    /// A consumer on a condition: arrives (`arrived += 1`, notifyAll), waits until `tokens > 0`,
    /// takes one, counts itself in `done`, notifyAll. Answers whether it got a token in time.
    public struct TokenConsumer: Codable, Sendable {
        public var condition: Condition, arrived: Counter, tokens: Counter, done: Counter
        public init(condition: Condition, arrived: Counter, tokens: Counter, done: Counter) {
            self.condition = condition; self.arrived = arrived; self.tokens = tokens; self.done = done
        }
    }
    public static let consumeToken = ProcessFunction("sync.consumeToken") { (job: TokenConsumer) -> Bool in
        try job.condition.withLock {
            try job.arrived.withUnsafeMutablePointer { $0.pointee += 1 }
            try job.condition.notifyAll()
            let tokens = job.tokens
            guard try job.condition.wait(for: { try tokens.withUnsafeMutablePointer { $0.pointee > 0 } }, timeout: .seconds(60)) else {
                return false
            }
            try job.tokens.withUnsafeMutablePointer { $0.pointee -= 1 }
            try job.done.withUnsafeMutablePointer { $0.pointee += 1 }
            try job.condition.notifyAll()
            return true
        }
    }

    /// Waits for `event` (`timeoutMilliseconds`, negative: no timeout), blocking or async, then
    /// sets `reply`; answers what the wait returned.
    public struct AwaitEvent: Codable, Sendable {
        public var event: Event, reply: Event, timeoutMilliseconds: Int, useAsync: Bool
        public init(event: Event, reply: Event, timeoutMilliseconds: Int = -1, useAsync: Bool = false) {
            self.event = event; self.reply = reply; self.timeoutMilliseconds = timeoutMilliseconds; self.useAsync = useAsync
        }
    }
    public static let awaitEvent = ProcessFunction("sync.awaitEvent") { (job: AwaitEvent) -> Bool in
        let timeout: Duration? = job.timeoutMilliseconds < 0 ? nil : .milliseconds(job.timeoutMilliseconds)
        let result = job.useAsync ? try await job.event.wait(timeout: timeout) : try blockingWait(job.event, timeout)
        job.reply.set()
        return result
    }
    static func blockingWait(_ event: Event, _ timeout: Duration?) throws -> Bool { try event.wait(timeout: timeout) }

    /// Reads one request carrying an Event (a handle inside a message), sets it, answers true.
    public static let receiveEvent = ProcessFunction("sync.receiveEvent") { (_: Int, context: WorkerContext) -> Int in
        for try await request in context.requests(Event.self) {
            request.value.set()
            try request.reply(true)
            return 1
        }
        return 0
    }

    /// The counter the ``countPass`` action adds to, in this process: a party sets it from its
    /// job before it waits (an action finds its state through its process, as a Python
    /// module-level function does).
    public static let passCounter = Mutex<Counter?>(nil)

    /// A barrier action: adds 1 to ``passCounter`` (under the barrier's lock: exact).
    public static let countPass = BarrierAction("sync.countPass") {
        try passCounter.withLock { $0 }?.withUnsafeMutablePointer { $0.pointee += 1 }
    }
    /// A barrier action that throws ``ActionFailed``.
    public static let failingAction = BarrierAction("sync.failingAction") { throw ActionFailed() }
    /// What ``failingAction`` throws.
    public struct ActionFailed: Error {}
    /// A barrier action that does nothing.
    public static let idleAction = BarrierAction("sync.idleAction") {}

    /// A party of a barrier for `rounds` rounds, the barrier's action (``countPass``) adding 1
    /// to `actions`. After each round it checks that the action of that round already ran.
    /// Answers its arrival indices, or the code of the error that ended it ("brokenBarrier").
    public struct Party: Codable, Sendable {
        public var barrier: Barrier, actions: Counter, rounds: Int, useAsync: Bool
        public init(barrier: Barrier, actions: Counter, rounds: Int, useAsync: Bool = false) {
            self.barrier = barrier; self.actions = actions; self.rounds = rounds; self.useAsync = useAsync
        }
    }
    public struct PartyReport: Codable, Sendable, Equatable {
        public var indices: [Int]
        public var actionRanBeforeRelease: Bool
        public var error: String?
    }
    public static let party = ProcessFunction("sync.party") { (job: Party) -> PartyReport in
        let actions = job.actions
        let barrier = job.barrier
        passCounter.withLock { $0 = actions }
        var report = PartyReport(indices: [], actionRanBeforeRelease: true, error: nil)
        for round in 0..<job.rounds {
            do {
                report.indices.append(job.useAsync ? try await barrier.wait() : try blockingWait(barrier))
            } catch let error as SynchronizationError {
                report.error = error.code.name
                return report
            }
            if try actions.withUnsafeMutablePointer({ $0.pointee }) < round + 1 { report.actionRanBeforeRelease = false }
        }
        return report
    }
    static func blockingWait(_ barrier: Barrier) throws -> Int { try barrier.wait() }

    /// Acquires `semaphore` (bounded or not) `times` times, each time counting itself in
    /// `inside` under `lock`, recording the largest `inside` seen in `most`, and leaving.
    public struct SemaphoreUser: Codable, Sendable {
        public var semaphore: Multiprocessing.Semaphore?, bounded: BoundedSemaphore?, lock: Lock, inside: Counter, most: Counter, times: Int
        public init(semaphore: Multiprocessing.Semaphore? = nil, bounded: BoundedSemaphore? = nil, lock: Lock, inside: Counter, most: Counter, times: Int) {
            self.semaphore = semaphore; self.bounded = bounded; self.lock = lock; self.inside = inside; self.most = most; self.times = times
        }
    }
    public static let useSemaphore = ProcessFunction("sync.useSemaphore") { (job: SemaphoreUser) -> Int in
        for _ in 0..<job.times {
            if let semaphore = job.semaphore { _ = try semaphore.acquire() } else { _ = try job.bounded!.acquire() }
            try job.lock.withLock {
                try job.inside.withUnsafeMutablePointer { inside in
                    inside.pointee += 1
                    try job.most.withUnsafeMutablePointer { $0.pointee = max($0.pointee, inside.pointee) }
                }
            }
            sched_yield()
            try job.lock.withLock { try job.inside.withUnsafeMutablePointer { $0.pointee -= 1 } }
            if let semaphore = job.semaphore { try semaphore.release() } else { try job.bounded!.release() }
        }
        return job.times
    }

    /// One `wait` on a condition (under its lock), counted in `woken` when it returns;
    /// answers what `wait` returned.
    public struct WaitOnce: Codable, Sendable {
        public var condition: Condition, woken: Counter, timeoutMilliseconds: Int
        public init(condition: Condition, woken: Counter, timeoutMilliseconds: Int) {
            self.condition = condition; self.woken = woken; self.timeoutMilliseconds = timeoutMilliseconds
        }
    }
    public static let waitOnce = ProcessFunction("sync.waitOnce") { (job: WaitOnce) -> Bool in
        try blockingWaitOnce(job)
    }
    static func blockingWaitOnce(_ job: WaitOnce) throws -> Bool {
        try job.condition.withLock {
            let notified = try job.condition.wait(timeout: .milliseconds(job.timeoutMilliseconds))
            try job.woken.withUnsafeMutablePointer { $0.pointee += 1 }
            return notified
        }
    }

    public static let functions: [any ProcessEntry] = [increment, holdAndWait, releaseForeign, consumeToken, awaitEvent,
                                                       receiveEvent, party, useSemaphore, waitOnce, countPass, failingAction,
                                                       idleAction]
}
