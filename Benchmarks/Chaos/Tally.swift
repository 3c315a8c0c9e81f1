import CoreMetrics
import Synchronization

/// Everything the run counts, from every lane and the killer; read once at the end.
final class Tally: Sendable {
    struct Lane: Codable {
        /// Work items completed and checked (pool inputs, queue items, increments, requests, pipeline items).
        var tasks = 0
        /// Failures the runtime reported with a typed error (a pool input whose retries ran
        /// out, a request to a worker that died): not lost, the caller was told.
        var reported = 0
        /// Items delivered twice that the runtime reported as redelivered.
        var redelivered = 0
        var lost = 0
        var duplicates = 0
        var hangs = 0
        var killed = 0
        /// Counter updates a kill left unacknowledged, each explained by a kill or an owner-died report.
        var explained = 0
        /// What went wrong, for the report (bounded).
        var problems: [String] = []
    }

    private let lanes = Mutex<[String: Lane]>([:])

    func update(_ lane: String, _ change: (inout Lane) -> Void) {
        lanes.withLock { change(&$0[lane, default: Lane()]) }
    }

    func problem(_ lane: String, _ text: String) {
        print("[chaos] \(lane): \(text)")
        update(lane) { if $0.problems.count < 20 { $0.problems.append(text) } }
    }

    func hang(_ lane: String, _ what: String) {
        update(lane) { $0.hangs += 1 }
        problem(lane, "hang: \(what) did not finish within its timeout")
    }

    func snapshot() -> [String: Lane] { lanes.withLock { $0 } }
}

/// Runs `body` and returns its value, or nil once `limit` passed first (a hang, counted in
/// `lane`; the body is cancelled and left behind, so a stuck await cannot stop the runner).
func bounded<T: Sendable>(_ lane: String, _ what: String, _ limit: Duration, _ tally: Tally,
                          _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    let outcome = Outcome<T>()
    return try await withCheckedThrowingContinuation { continuation in
        outcome.set(continuation)
        let work = Task {
            do { outcome.finish(.success(try await body())) } catch { outcome.finish(.failure(error)) }
        }
        let timer = Task {
            try? await Task.sleep(for: limit)
            guard !Task.isCancelled, outcome.finish(.success(nil)) else { return }
            tally.hang(lane, what)
            work.cancel()
        }
        outcome.onFinish { timer.cancel() }
    }
}

/// The one resumption of `bounded`'s continuation, whoever comes first.
private final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T?, any Error>?
        var done = false
        var onFinish: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<T?, any Error>) { state.withLock { $0.continuation = continuation } }

    func onFinish(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.done { return true }
            state.onFinish = action
            return false
        }
        if now { action() }
    }

    @discardableResult
    func finish(_ result: Result<T?, any Error>) -> Bool {
        let taken = state.withLock { state -> (CheckedContinuation<T?, any Error>, (@Sendable () -> Void)?)? in
            guard !state.done, let continuation = state.continuation else { return nil }
            state.done = true
            defer { state.onFinish = nil }
            return (continuation, state.onFinish)
        }
        guard let (continuation, action) = taken else { return false }
        continuation.resume(with: result)
        action?()
        return true
    }
}

/// A metrics backend that keeps the counters' totals, so the runner can read what the runtime
/// reported (`mp_queue_redelivered`, `mp_restarts`). Everything else is discarded.
final class CountingMetrics: MetricsFactory, Sendable {
    private let totals = Mutex<[String: Int64]>([:])

    func total(_ label: String) -> Int64 { totals.withLock { $0[label, default: 0] } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(label: label, totals: self)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { NOOPMetricsHandler.instance }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    fileprivate func add(_ label: String, _ amount: Int64) { totals.withLock { $0[label, default: 0] += amount } }

    private final class Handler: CounterHandler, Sendable {
        let label: String
        let totals: CountingMetrics
        init(label: String, totals: CountingMetrics) {
            self.label = label
            self.totals = totals
        }
        func increment(by amount: Int64) { totals.add(label, amount) }
        func reset() {}
    }
}

/// A seeded generator (SplitMix64): the killer's choices repeat for a seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
