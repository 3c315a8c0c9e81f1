// A tour of processes in swift-multiprocessing, the way Python's `multiprocessing` is used:
// a function run in a child, a parallel map over several children, a direct connection
// (Python's Pipe), and a long-lived worker under an Erlang/OTP supervisor that restarts it
// when it is killed. Every child is this executable started again (Python's "spawn").
// Run it with `make demo` (or `swift run -c release ProcessTour`).
import Multiprocessing

/// How many primes are below `limit`, the slow way: work worth a process.
let countPrimes = ProcessFunction("countPrimes") { (range: ClosedRange<Int>) -> Int in
    range.filter { n in n > 1 && (2...max(2, Int(Double(n).squareRoot()))).allSatisfy { n == 2 || n % $0 != 0 } }.count
}

/// Reports who it is: Python's current_process() and parent_process().
let whoAmI = ProcessFunction("whoAmI") { (_: Int) -> String in
    "\(Multiprocessing.currentProcess.name), started by \(Multiprocessing.parentProcess?.name ?? "nobody")"
}

/// Streams squares over the connection its parent passed it as "squares", then a -1.
let streamSquares = ProcessFunction("streamSquares") { (count: Int) -> Int in
    let connection = try Connection.inherited("squares")
    defer { connection.close() }
    for n in 1...count { try connection.send(n * n) }
    try connection.send(-1)
    return count
}

/// Keeps a running total of the numbers it is sent and answers it.
struct Tally: Worker {
    func run(_ context: WorkerContext) async throws {
        var total = 0
        for try await request in context.requests(Int.self) {
            total += request.value
            try request.reply(total)
        }
    }
}

try await Multiprocessing.bootstrap(functions: [countPrimes, whoAmI, streamSquares], workers: [Tally.self])

// 1. One function in one child, its result back here.
print("1. run:", try await ChildProcess.run(countPrimes, 1...10_000), "primes below 10,000")
print("   the child says: \(try await ChildProcess.run(whoAmI, 0, options: ProcessOptions(name: "curious")))")

// 2. A parallel map: one child per slice, results collected as children finish.
let slices = stride(from: 0, to: 100_000, by: 25_000).map { $0...($0 + 24_999) }
var children: [ChildProcess] = []
for slice in slices { children.append(try await ChildProcess.start(countPrimes, slice)) }
var pending: [any Waitable] = children
while !pending.isEmpty {
    let done = try await Multiprocessing.wait(for: pending, timeout: .seconds(60))
    pending.removeAll { waiting in done.contains { $0 === waiting } }
}
var total = 0
for child in children { total += try await child.result(of: countPrimes) }
print("2. map over \(children.count) children (\(Multiprocessing.cpuCount) CPUs):", total, "primes below 100,000")

// 3. A direct connection created at spawn: no supervisor between the two processes.
let (mine, theirs) = try Connection.pair()
var options = ProcessOptions(name: "squares")
try options.pass(theirs, as: "squares")
let producer = try await ChildProcess.start(streamSquares, 5, options: options)
theirs.close()   // the child has its copy
var squares: [Int] = []
while true {
    let square = try mine.receive(Int.self, timeout: .seconds(30))   // blocking, as Python's recv()
    if square < 0 { break }
    squares.append(square)
}
mine.close()
print("3. over a connection:", squares, "then", try await producer.join()!)

// 4. A supervised worker: killed, restarted by its supervisor, answering again.
let tree = Supervisor(strategy: .oneForOne, intensity: 3, period: .seconds(5), children: [.worker("tally", Tally.self)])
try await tree.start()
let first = await tree.child("tally")!
print("4. tally (pid \(first.pid)) answers", try await first.request(5, as: Int.self))
first.kill()
var restarted = first
for await event in tree.events {
    if case .started(id: "tally", _) = event, let child = await tree.child("tally"), child.pid != first.pid {
        restarted = child
        break
    }
}
print("   killed; restarted as pid \(restarted.pid), which answers", try await restarted.request(7, as: Int.self))
await tree.shutdown()
print("   shut down; children left:", ChildProcess.activeChildren().count)
