import Foundation
import MPTestEntries
import Multiprocessing

// The worker executable the tests spawn: it registers the test entries and, started as a
// child, runs the one it was asked for and exits.
try await Multiprocessing.bootstrap(functions: TestEntries.functions, workers: TestEntries.workers)

// Started without an entry, it can play a parent: `--demo-supervisor` starts a supervision
// tree of three workers, prints "ready PID PID PID" and waits for Ctrl-C (InterruptTests).
if CommandLine.arguments.dropFirst().first == "--demo-supervisor" {
    let supervisor = Supervisor(children: [
        .worker("first", Tally.self), .worker("second", Tally.self), .worker("third", Tally.self),
    ])
    try await supervisor.start()
    var pids: [Int32] = []
    for id in ["first", "second", "third"] { pids.append(await supervisor.child(id)!.pid) }
    // Unbuffered: stdout is a pipe, and the test waits for this line.
    FileHandle.standardOutput.write(Data("ready \(pids.map(String.init).joined(separator: " "))\n".utf8))
    try await supervisor.wait()
} else if CommandLine.arguments.dropFirst().first == "--demo-output" {
    // Runs `printLines` with prefixed output: the test reads this process's stdout and stderr.
    var options = ProcessOptions(name: "printer")
    options.output = .prefixed
    let child = try await ChildProcess.start(TestEntries.printLines, ["hello", "world"], options: options)
    _ = try await child.result(of: TestEntries.printLines)
    try await child.join()
    try await Task.sleep(for: .milliseconds(100))   // the prefixers drain the pipes on the loop
} else if CommandLine.arguments.dropFirst().first == "--demo-shm" {
    try await SharedMemoryDemo.run(CommandLine.arguments.dropFirst(2).first ?? "wait")   // SharedMemoryTests
} else {
    print("MPTestWorker: a helper the tests start as a child; it runs nothing on its own.")
}
