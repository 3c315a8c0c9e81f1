// A worked port (docs/PYTHON.md): ported_counter.py beside it, line for line. The main process
// feeds jobs to two consumer processes over a Queue; each adds the squares of its jobs to a
// shared value under the value's lock and reports under a Lock that keeps the report lines
// whole. Run it with `swift run PortedCounter`.
import Multiprocessing

/// Python's `consume(jobs, total, print_lock)`: a function registered by name, so a child can
/// find it, taking the same three arguments as Python's `args=(jobs, total, print_lock)`.
let consume = ProcessFunction("consume") { (jobs: Queue<Int?>, total: SharedValue<Int>, printLock: Lock) -> Int in
    var handled = 0
    while let n = try await jobs.get() {            // nil: no more jobs (Python's None)
        try total.withLock { $0 += n * n }          // the value's own lock, as get_lock()
        handled += 1
    }
    let report = "\(Multiprocessing.currentProcess.name) handled \(handled) jobs"   // the split varies by run
    try await printLock.withLock { print(report) }  // waits without blocking a thread
    return handled
}

// Python's `if __name__ == "__main__":` — a child is this program started again, and runs
// only its entry here.
try await Multiprocessing.bootstrap(functions: [consume])

let jobs = try Queue<Int?>()
let total = try SharedValue<Int>(0)                 // with its own lock
let printLock = try Lock()
var consumers: [ProcessTask<Int>] = []
for i in 1...2 {
    consumers.append(try await ChildProcess.start(consume, jobs, total, printLock,
                                                  options: ProcessOptions(name: "consumer-\(i)")))
}
for n in 1...1000 { try await jobs.put(n) }
for _ in consumers { try await jobs.put(nil) }
for consumer in consumers { _ = try await consumer.join() }
print("sum of squares 1...1000:", try total.load())
print("exit codes:", consumers.map { $0.exitCode.map(Int.init) ?? -1 })
