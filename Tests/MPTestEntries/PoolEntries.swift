#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Multiprocessing
import Synchronization

/// The functions the pool tests run in pool workers (`MPTestWorker` children): plain ones,
/// failing, slow, crashing and cooperative ones, an initializer and what reads what it set.
public enum PoolEntries {
    /// The error `failOn` throws.
    public enum PoolTestError: Error, Equatable {
        case bad(Int)
    }

    /// x * x.
    public static let square = ProcessFunction("pool-square") { (x: Int) in x * x }

    /// x, or a thrown ``PoolTestError/bad(_:)`` when x % 7 == 3.
    public static let failOn = ProcessFunction("pool-fail-on") { (x: Int) -> Int in
        if x % 7 == 3 { throw PoolTestError.bad(x) }
        return x
    }

    /// Sleeps x milliseconds (suspending: cancellation ends it early with an error), returns x.
    public static let sleepMillis = ProcessFunction("pool-sleep-millis") { (x: Int) -> Int in
        try await Task.sleep(for: .milliseconds(x))
        return x
    }

    /// Busy-waits x microseconds on the clock, never suspending; returns x.
    public static let spinMicros = ProcessFunction("pool-spin-micros") { (x: Int) -> Int in
        let end = ContinuousClock.now + .microseconds(x)
        while ContinuousClock.now < end {}
        return x
    }

    /// SIGKILLs its own process when x == -1, traps when x == -2; otherwise returns x.
    public static let crashOn = ProcessFunction("pool-crash-on") { (x: Int) -> Int in
        if x == -1 { kill(getpid(), SIGKILL) }
        if x == -2 { fatalError("pool-crash-on traps on -2, as asked") }
        return x
    }

    /// a + b: a function of two arguments (its pool input is `ProcessArguments<Int, Int>`).
    public static let add = ProcessFunction("pool-add") { (a: Int, b: Int) in a + b }

    /// What ``setUpWorker`` stored in this process (0 before it ran).
    private static let initialized = Atomic<Int>(0)

    /// An initializer: stores its argument in this process; a negative one fails it.
    public static let setUpWorker = ProcessFunction("pool-set-up-worker") { (value: Int) throws -> Void in
        if value < 0 { throw PoolTestError.bad(value) }
        initialized.store(value, ordering: .relaxed)
    }

    /// [what ``setUpWorker`` stored, this process's pid].
    public static let initValue = ProcessFunction("pool-init-value") { (_: Int) -> [Int] in
        [initialized.load(ordering: .relaxed), Int(getpid())]
    }

    /// This process's pid.
    public static let whoAmI = ProcessFunction("pool-who-am-i") { (_: Int) -> Int32 in getpid() }

    /// Sleeps in 1 ms steps up to x ms, stopping early once cancelled; returns whether the
    /// task was cancelled (`Task.isCancelled`).
    public static let cooperative = ProcessFunction("pool-cooperative") { (x: Int) -> Bool in
        for _ in 0..<x where !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(1))
        }
        return Task.isCancelled
    }

    /// Increments `counters[x]` under the array's lock and returns x: how often each input
    /// ran, seen from the parent.
    public static let recordRun = ProcessFunction("pool-record-run") { (x: Int, counters: SharedArray<Int>) -> Int in
        try counters.withLock { $0[x] += 1 }
        return x
    }

    /// The run counters ``attachCounters`` gave this worker (Python's idiom: a shared array
    /// passed once through the initializer, not with every input).
    private static let attached = Mutex<SharedArray<Int>?>(nil)

    /// An initializer: keeps `counters` for ``countRun``.
    public static let attachCounters = ProcessFunction("pool-attach-counters") { (counters: SharedArray<Int>) -> Void in
        attached.withLock { $0 = counters }
    }

    /// Increments the attached `counters[x]` and returns x. Without the array's lock: a
    /// worker SIGKILLed inside it would hand the next one `ownerDied`, and no two workers ever
    /// run the same input at once (an input runs again only after its worker died).
    public static let countRun = ProcessFunction("pool-count-run") { (x: Int) -> Int in
        guard let counters = attached.withLock({ $0 }) else { throw PoolTestError.bad(x) }
        try counters.withUnsafeMutableBufferPointer { $0[x] += 1 }
        return x
    }

    public static let functions: [any ProcessEntry] = [square, failOn, sleepMillis, spinMicros, crashOn, add, setUpWorker,
                                                       initValue, whoAmI, cooperative, recordRun, attachCounters, countRun]

    /// The worker types a pool of workers runs in the tests.
    public static let workers: [any Worker.Type] = [PoolDoubler.self]
}

/// A worker type for a pool: answers each request x with 2x, fails 13 with
/// ``PoolEntries/PoolTestError``, and SIGKILLs itself on -1.
public struct PoolDoubler: Worker {
    public init() {}

    public func run(_ context: WorkerContext) async throws {
        for try await request in context.requests(Int.self) {
            switch request.value {
            case 13: try request.fail(PoolEntries.PoolTestError.bad(13))
            case -1: kill(getpid(), SIGKILL)
            default: try request.reply(request.value * 2)
            }
        }
    }
}
