// The Supervision example's worker: a stage that squares integers and crashes now and then.
// mpctl restarts it by the stage's policy (flaky.yaml) and sends the item it died with to its
// successor, so the output is still exact; exhausted.yaml gives it less patience than it needs.
import Glibc
import Multiprocessing

/// Squares each integer; exits with status 3 (a crash, as far as mpctl can tell) on every
/// `FLAKY_EVERY`-th item it receives (25 unless set), before answering it.
struct Flaky: Worker {
    func run(_ context: WorkerContext) async throws {
        let every = getenv("FLAKY_EVERY").flatMap { Int(String(cString: $0)) } ?? 25
        var received = 0
        for try await request in context.requests(Int.self) {
            received += 1
            if received % every == 0 {
                print("crashing on item \(request.value) (my \(received)th)")
                fflush(nil)   // exit(3) below would flush too; this says it matters
                exit(3)
            }
            try request.reply([request.value * request.value])
        }
    }
}

try await Multiprocessing.bootstrap(workers: [Flaky.self])
print("""
    Supervision's worker runs under mpctl:
      mpctl run Examples/Supervision/flaky.yaml       restarted by policy, the output still exact
      mpctl run Examples/Supervision/exhausted.yaml   restart intensity exhausted: a failure summary
    """)
