/// The shared state of a ``Barrier``: a robust mutex over a few words, a futex word the
/// waiting parties sleep on, and the pids of the parties waiting now.
///
/// ```
/// offset 0   pthread_mutex_t (40 bytes) guarding everything below except the futex sleep
///        40  UInt32 parties
///        44  UInt32 arrived      parties waiting in the current generation
///        48  UInt32 generation   bumped when the generation is released, broken or reset;
///                                the futex word waiters sleep on
///        52  UInt32 completed    bit g % 32: generation g was released normally (not
///                                broken, reset or aborted); read by its waiters once the
///                                generation moved on
///        56  UInt32 broken       1 until reset
///        60  UInt32 waiters
///        64  UInt64 default timeout in nanoseconds (UInt64.max: none)
///        72  UInt64 the action's name length in bytes (0: no action)
///        80  UInt8 name[64]       the action's name, UTF-8 (see BarrierAction)
///        144 Int32 pids[parties] the process of each party waiting now, by arrival index
/// ```
///
/// Why it survives a dead process: a party that dies while waiting is found by the others,
/// which wake every 100 ms to check the pids of the parties waiting with them (a pidfd tells
/// an ended process, zombie or gone, from a live one) and break the barrier; a party that
/// dies holding the mutex (in the bookkeeping or in the action) leaves it `EOWNERDEAD` for
/// the next, which breaks the barrier too. A party that never arrives is the timeout's
/// business. (A pid reused by a new process within the 100 ms would hide a death; pids are
/// recycled far more slowly.)
// Unchecked: an immutable pointer into the arena; its robust mutex and futex words order every access.
struct BarrierCore: @unchecked Sendable {
    static let headerSize = 144
    static let actionNameOffset = 80
    static let maximumActionNameLength = 64
    static let alignment = 8
    static let livenessInterval: Duration = .milliseconds(100)

    static func byteCount(parties: Int) -> Int { headerSize + 4 * parties }
    static func parties(byteCount: Int) -> Int { (byteCount - headerSize) / 4 }

    let base: UnsafeMutableRawPointer
    private var mutex: RobustMutex { RobustMutex(at: base) }
    private func word(_ offset: Int) -> FutexWord { FutexWord(base + offset) }
    var parties: Int { Int(word(40).load()) }
    private var arrived: FutexWord { word(44) }
    var generation: FutexWord { word(48) }
    private var completed: FutexWord { word(52) }
    private var broken: FutexWord { word(56) }
    private var waiters: FutexWord { word(60) }
    private func pid(at index: Int) -> FutexWord { word(Self.headerSize + 4 * index) }

    init(at base: UnsafeMutableRawPointer) { self.base = base }

    /// Checks that `name` can be stored (1 to 64 bytes of UTF-8).
    static func checkActionName(_ name: String) throws(SynchronizationError) {
        guard !name.isEmpty, name.utf8.count <= maximumActionNameLength else {
            throw SynchronizationError(.invalidArgument, "the barrier action name \"\(name)\" must have 1 to \(maximumActionNameLength) bytes of UTF-8")
        }
    }

    /// The name of the action the last party runs, nil for none.
    var actionName: String? {
        let length = Int(base.load(fromByteOffset: 72, as: UInt64.self))
        guard length > 0, length <= Self.maximumActionNameLength else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: base + Self.actionNameOffset, count: length), as: UTF8.self)
    }

    static func initialize(at base: UnsafeMutableRawPointer, parties: Int, timeout: Duration?, actionName: String?) throws(SynchronizationError) -> BarrierCore {
        if case .failure(let errno) = RobustMutex.initialize(at: base) {
            throw .system(errno, "pthread_mutex_init", "Barrier: initializing its mutex")
        }
        let core = BarrierCore(at: base)
        core.word(40).initialize(to: UInt32(parties))
        for offset in stride(from: 44, to: 64, by: 4) { core.word(offset).initialize(to: 0) }
        // A timeout too long to count in nanoseconds is no timeout.
        // A negative one is zero, as for a wait (Python's).
        let nanoseconds = timeout.map { max($0, .zero) }.flatMap { timeout -> UInt64? in
            let (seconds, attoseconds) = timeout.components
            guard seconds < 1 << 33 else { return nil }
            return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        }
        base.storeBytes(of: nanoseconds ?? UInt64.max, toByteOffset: 64, as: UInt64.self)
        let name = Array((actionName ?? "").utf8.prefix(maximumActionNameLength))
        base.storeBytes(of: UInt64(name.count), toByteOffset: 72, as: UInt64.self)
        name.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { (base + actionNameOffset).copyMemory(from: source, byteCount: bytes.count) }
        }
        for index in 0..<parties { core.pid(at: index).initialize(to: 0) }
        return core
    }

    var defaultTimeout: Duration? {
        let nanoseconds = base.load(fromByteOffset: 64, as: UInt64.self)
        return nanoseconds == UInt64.max ? nil : .nanoseconds(Int64(clamping: nanoseconds))
    }

    var isBroken: Bool { broken.load() != 0 }
    var waitingCount: Int { isBroken ? 0 : Int(arrived.load()) }

    /// Locks the mutex; a holder that died breaks the barrier (its bookkeeping or action was cut
    /// short) and throws `brokenBarrier`, not holding the mutex.
    private func lock(_ what: String) throws(SynchronizationError) {
        switch mutex.lock(until: nil) {
        case .success(.ownerDied):
            _ = mutex.markConsistent()
            breakLocked()
            unlock()
            throw SynchronizationError(.brokenBarrier, "\(what): a process died inside the barrier (holding its lock)")
        case .success:
            return
        case .failure(let errno):
            throw .system(errno, "pthread_mutex_lock", what)
        }
    }

    private func unlock() { _ = mutex.unlock() }

    /// With the mutex held: broken, every waiter of this generation released with an error.
    private func breakLocked() {
        broken.store(1)
        arrived.store(0)
        endGeneration(completed: false)
    }

    /// With the mutex held: records how the current generation ended, starts the next, wakes
    /// the waiters.
    private func endGeneration(completed normally: Bool) {
        let bit = UInt32(1) << (generation.load() % 32)
        var current = completed.load()
        while true {
            let (exchanged, original) = completed.compareExchange(expected: current, desired: normally ? current | bit : current & ~bit)
            if exchanged { break }
            current = original
        }
        generation.add(1)
        if waiters.load() > 0 { generation.wake() }
    }

    func abort(_ what: String) throws(SynchronizationError) {
        try lock(what)
        breakLocked()
        unlock()
    }

    func reset(_ what: String) throws(SynchronizationError) {
        do throws(SynchronizationError) { try lock(what) } catch let error where error.code == .brokenBarrier { try lock(what) }
        if arrived.load() > 0 { endGeneration(completed: false) }   // the parties waiting now get brokenBarrier
        arrived.store(0)
        broken.store(0)
        unlock()
    }

    /// Arrives and waits for the others. Returns the arrival index (0 first, parties - 1 last).
    func wait(until deadline: MonotonicInstant?, cancellation: WaitCancellation?, _ what: String) throws -> Int {
        switch try arrive(what) {
        case .released(let index): return index
        case .waiting(let arrival): return try awaitRelease(arrival, until: deadline, cancellation: cancellation, what)
        }
    }

    /// A party that arrived and waits for the others: its index and its generation.
    struct Arrival: Sendable {
        let index: Int
        let generation: UInt32
    }

    enum ArrivalOutcome {
        /// This party was the last: the action ran and everyone is released.
        case released(Int)
        case waiting(Arrival)
    }

    /// Counts this party in (and, as the last, runs the action registered in this process under
    /// the barrier's action name, and releases the round).
    func arrive(_ what: String) throws -> ArrivalOutcome {
        let me = ProcessControl.id
        try lock(what)
        if isBroken {
            unlock()
            throw SynchronizationError(.brokenBarrier, "\(what): the barrier is broken (reset it to use it again)")
        }
        let index = Int(arrived.load())
        pid(at: index).store(UInt32(bitPattern: me))
        arrived.store(UInt32(index + 1))
        let mine = generation.load()
        if index + 1 == parties {
            if let name = actionName {
                do {
                    guard let action = BarrierActionRegistry.lookup(name) else {
                        throw BarrierActionRegistry.unregistered(name, what)
                    }
                    try action.body()
                } catch {
                    breakLocked()
                    unlock()
                    throw error
                }
            }
            arrived.store(0)
            endGeneration(completed: true)
            unlock()
            return .released(index)
        }
        unlock()
        return .waiting(Arrival(index: index, generation: mine))
    }

    /// Sleeps until the arrival's round is released (its index) or broken (`brokenBarrier`),
    /// looking at the other waiting parties' pids every 100 ms. A timeout or a cancellation
    /// breaks the barrier.
    func awaitRelease(_ arrival: Arrival, until deadline: MonotonicInstant?, cancellation: WaitCancellation?,
                      _ what: String) throws -> Int {
        let me = ProcessControl.id
        let (index, mine) = (arrival.index, arrival.generation)
        while true {
            if !(cancellation?.isCancelled ?? false) {
                waiters.add(1)
                let outcome = generation._wait(whileEqualTo: mine, until: MonotonicInstant.after(Self.livenessInterval).earlier(than: deadline))
                waiters.subtract(1)
                if case .failure(let errno) = outcome { throw SynchronizationError.system(errno, "futex", what) }
            }
            if generation.load() != mine { return try outcomeOf(mine, index, what) }
            let cancelled = cancellation?.isCancelled ?? false
            let timedOut = deadline?.hasPassed ?? false
            try lock(what)
            guard generation.load() == mine else {
                unlock()
                return try outcomeOf(mine, index, what)
            }
            if cancelled || timedOut {
                breakLocked()
                unlock()
                if cancelled { throw CancellationError() }
                throw SynchronizationError(.brokenBarrier, "\(what): timed out waiting for the other parties (the barrier is broken now)")
            }
            let waiting = Int(arrived.load())
            let dead = (0..<waiting).map { Int32(bitPattern: pid(at: $0).load()) }.first { $0 != me && ProcessControl.hasEnded($0) }
            if let dead {
                breakLocked()
                unlock()
                throw SynchronizationError(.brokenBarrier, "\(what): the party in process \(dead) died while waiting (the barrier is broken now)")
            }
            unlock()
        }
    }

    private func outcomeOf(_ mine: UInt32, _ index: Int, _ what: String) throws(SynchronizationError) -> Int {
        guard completed.load() & (UInt32(1) << (mine % 32)) != 0 else {
            throw SynchronizationError(.brokenBarrier, "\(what): the barrier was broken, reset or aborted while this party waited")
        }
        return index
    }
}
