// The Supervision example's worker: a stage that squares integers and crashes now and then.
// mpctl restarts it by the stage's policy (flaky.yaml) and sends the item it died with to its
// successor, so the output is still exact; exhausted.yaml gives it less patience than it needs.
import Glibc
import Multiprocessing

/// Squares each integer; exits with status 3 (a crash, as far as mpctl can tell) on every
/// `FLAKY_EVERY`-th item it receives (50 unless set), before answering it.
struct Flaky: Worker {
    func run(_ context: WorkerContext) async throws {
        let every = getenv("FLAKY_EVERY").flatMap { Int(String(cString: $0)) } ?? 50
        var received = 0
        for try await request in context.requests(Int.self) {
            received += 1
            if received % every == 0 {
                say("crashing on item \(request.value) (my \(received)th)")
                exit(3)
            }
            try request.reply([request.value * request.value])
        }
    }
}

/// A line on standard error, where mpctl keeps a worker's last lines for its failure report.
func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

try await Multiprocessing.bootstrap(workers: [Flaky.self])
print("""
    Supervision's worker runs under mpctl:
      mpctl run Examples/Supervision/flaky.yaml       restarted by policy, the output still exact
      mpctl run Examples/Supervision/exhausted.yaml   restart intensity exhausted: a failure summary
    """)
