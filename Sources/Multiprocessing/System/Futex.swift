#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims
import Synchronization

// MARK: - Monotonic deadlines

/// A point on `CLOCK_MONOTONIC`, the clock futex and mutex deadlines are measured on (Swift's
/// `ContinuousClock` is `CLOCK_BOOTTIME` on Linux, so its instants cannot be handed to the
/// kernel).
struct MonotonicInstant: Comparable, Sendable {
    /// Nanoseconds since an arbitrary start (boot).
    var nanoseconds: Int64

    /// Now. The corresponding C function is `clock_gettime(CLOCK_MONOTONIC)`.
    static var now: MonotonicInstant {
        var time = Glibc.timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return MonotonicInstant(nanoseconds: Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec))
    }

    /// `duration` from now; a duration too long to represent saturates (never wraps into the past).
    static func after(_ duration: Duration) -> MonotonicInstant {
        let (seconds, attoseconds) = duration.components
        let (wholeNanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let span = overflow ? Int64.max / 2 : wholeNanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
        let (sum, sumOverflow) = now.nanoseconds.addingReportingOverflow(span)
        return MonotonicInstant(nanoseconds: sumOverflow ? Int64.max / 2 : sum)
    }

    /// The earlier of `self` and `other` (nil is "never").
    func earlier(than other: MonotonicInstant?) -> MonotonicInstant {
        guard let other else { return self }
        return Swift.min(self, other)
    }

    var timespec: Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    var hasPassed: Bool { MonotonicInstant.now >= self }

    static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }
}

// MARK: - Futex words

/// A 32-bit word in shared memory that threads of any process can sleep on (a futex) and
/// update atomically. The word is the memory at ``address``; the caller keeps that memory
/// mapped while it is used.
///
/// Only the shared futex operations are used (never `FUTEX_PRIVATE_FLAG`): the kernel keys a
/// shared futex by the physical page, so a waiter in one process is woken by a wake in another
/// that maps the same memory at another address.
// Unchecked: an immutable address; every access to the word is atomic.
struct FutexWord: @unchecked Sendable {
    let address: UnsafeMutableRawPointer

    init(_ address: UnsafeMutableRawPointer) { self.address = address }

    private var atomic: UnsafeMutablePointer<Atomic<UInt32>> { address.assumingMemoryBound(to: Atomic<UInt32>.self) }

    /// Stores `value` in fresh memory (the first use of the word).
    func initialize(to value: UInt32) {
        address.bindMemory(to: Atomic<UInt32>.self, capacity: 1).initialize(to: Atomic(value))
    }

    func load() -> UInt32 { atomic.pointee.load(ordering: .sequentiallyConsistent) }

    /// A load with no ordering of its own: for a word only touched under a mutex, whose lock
    /// and unlock order it.
    func loadRelaxed() -> UInt32 { atomic.pointee.load(ordering: .relaxed) }

    /// A store with no ordering of its own (see ``loadRelaxed()``).
    func storeRelaxed(_ value: UInt32) { atomic.pointee.store(value, ordering: .relaxed) }

    func store(_ value: UInt32) { atomic.pointee.store(value, ordering: .sequentiallyConsistent) }

    @discardableResult
    func add(_ value: UInt32) -> UInt32 {
        atomic.pointee.wrappingAdd(value, ordering: .sequentiallyConsistent).newValue
    }

    @discardableResult
    func subtract(_ value: UInt32) -> UInt32 {
        atomic.pointee.wrappingSubtract(value, ordering: .sequentiallyConsistent).newValue
    }

    /// Replaces `expected` with `desired`; returns whether it did, and the value it saw.
    func compareExchange(expected: UInt32, desired: UInt32) -> (exchanged: Bool, original: UInt32) {
        atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
    }

    enum WaitOutcome: Sendable, Equatable {
        /// A wake arrived (or a signal interrupted the sleep: callers re-check their condition either way).
        case woken
        /// The word did not hold the expected value any more.
        case changed
        /// The deadline passed.
        case timedOut
    }

    /// Sleeps while the word holds `expected`, until a ``wake(_:)``, `deadline` (nil: never)
    /// or a signal. Callers loop on their own condition: a wake-up proves nothing.
    /// The corresponding C function is `futex(FUTEX_WAIT_BITSET)` (absolute `CLOCK_MONOTONIC`).
    func _wait(whileEqualTo expected: UInt32, until deadline: MonotonicInstant?) -> Result<WaitOutcome, Errno> {
        let word = address.assumingMemoryBound(to: UInt32.self)
        let result: Int32
        if let deadline {
            var time = deadline.timespec
            result = mp_futex_wait(word, expected, &time)
        } else {
            result = mp_futex_wait(word, expected, nil)
        }
        if result == 0 { return .success(.woken) }
        switch Errno.current {
        case .interrupted: return .success(.woken)
        case .resourceTemporarilyUnavailable: return .success(.changed)
        case .timedOut: return .success(.timedOut)
        case let error: return .failure(error)
        }
    }

    /// How long a sleeper of the `Synchronize` primitives sleeps at most before it looks at its
    /// word again: a process killed between changing a word and waking its sleepers (two
    /// instructions apart) would otherwise leave them asleep for good.
    static let recheckInterval: Duration = .seconds(1)

    /// ``_wait(whileEqualTo:until:)`` for at most ``recheckInterval``: the caller loops on its
    /// own condition and deadline anyway.
    /// First it looks at the word for up to ``SpinPolicy/window`` (System/SpinPoll.swift), on a
    /// machine where the waker can run meanwhile on another CPU: a change that comes within it
    /// costs no sleep and no wake-up from another CPU.
    func _nap(whileEqualTo expected: UInt32, until deadline: MonotonicInstant?) -> Result<WaitOutcome, Errno> {
        if SpinPolicy.enabled, spin(whileEqualTo: expected) { return .success(.changed) }
        return _wait(whileEqualTo: expected, until: MonotonicInstant.after(Self.recheckInterval).earlier(than: deadline))
    }

    /// Whether the word stopped holding `expected` within ``SpinPolicy/window``, looking at it
    /// with `sched_yield` between looks (a waker on the same CPU then runs).
    private func spin(whileEqualTo expected: UInt32) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: SpinPolicy.window)
        repeat {
            if load() != expected { return true }
            sched_yield()
        } while clock.now < deadline
        return false
    }

    /// Wakes up to `count` threads sleeping on the word, in any process; returns how many.
    /// The corresponding C function is `futex(FUTEX_WAKE)`.
    @discardableResult
    func wake(_ count: Int32 = Int32.max) -> Int {
        Int(mp_futex_wake(address.assumingMemoryBound(to: UInt32.self), count))
    }
}

extension ProcessControl {
    /// The calling thread's kernel id. The corresponding C function is `gettid`.
    static var threadID: pid_t { mp_gettid() }

    /// Whether the process `pid` has ended: it no longer exists, or it is a zombie waiting to
    /// be reaped (which `kill(pid, 0)` would still call alive). A pidfd opened on a zombie is
    /// readable at once. Errors other than "no such process" count as alive (the question is
    /// asked again later). The corresponding C functions are `pidfd_open` and `poll`.
    static func hasEnded(_ pid: pid_t) -> Bool {
        switch PidFD._open(pid: pid) {
        case .failure(let error): return error == .noSuchProcess
        case .success(let pidfd):
            defer { _ = pidfd.descriptor._close() }
            guard case .success(let events) = FileDescriptor._poll([pidfd.descriptor], for: .readable, timeout: .zero) else {
                return false
            }
            return !events[0].isEmpty
        }
    }
}
