import Foundation
import MPTestEntries
import Multiprocessing
import Synchronization

// The worker executable the tests spawn: it registers the test entries and, started as a
// child, runs the one it was asked for and exits.
try await Multiprocessing.bootstrap(functions: TestEntries.functions + QueueEntries.functions + PoolEntries.functions + ManagerEntries.functions + RemoteManagerEntries.functions + RemoteWorkerEntries.functions,
                                    workers: TestEntries.workers + PoolEntries.workers + RemoteWorkerEntries.workers, managed: ManagerEntries.managed)

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
} else if CommandLine.arguments.dropFirst().first == "--demo-exit", CommandLine.arguments.count == 3 {
    // Starts a daemon child that would sleep a minute and a non-daemon child that writes a
    // file after 300 ms, then returns from main: Python's exit rules must terminate the first
    // and wait for the second. A handler registered before the first spawn runs after the
    // runtime's own exit handler and prints how each child ended.
    atexit {
        let lines = ExitDemo.children.withLock { $0 }.map { "\($0.name) \($0.status.map(String.init(describing:)) ?? "running")" }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
    let directory = CommandLine.arguments[2]
    let daemon = try await ChildProcess.start(TestEntries.sleep, 60_000, options: ProcessOptions(name: "daemon", daemon: true))
    let worker = try await ChildProcess.start(TestEntries.writeLate, LateWrite(path: directory + "/done", milliseconds: 300),
                                              options: ProcessOptions(name: "worker"))
    ExitDemo.children.withLock { $0 = [daemon, worker] }
} else if CommandLine.arguments.dropFirst().first == "--demo-nofile" {
    try await FrontDoorDemo.tooFewDescriptors()   // FrontDoorTests
} else if CommandLine.arguments.dropFirst().first == "--demo-foreign-daemon", CommandLine.arguments.count == 4 {
    try await FrontDoorDemo.foreignDaemon(script: CommandLine.arguments[2], directory: CommandLine.arguments[3])
} else if CommandLine.arguments.dropFirst().first == "--demo-spawn-cycles", CommandLine.arguments.count == 3,
          let cycles = Int(CommandLine.arguments[2]) {
    try await FrontDoorDemo.spawnCycles(cycles)   // scripts/long-spawn-run
} else if CommandLine.arguments.dropFirst().first == "--demo-shm" {
    try await SharedMemoryDemo.run(CommandLine.arguments.dropFirst(2).first ?? "wait")   // SharedMemoryTests
} else if CommandLine.arguments.dropFirst().first == "--demo-remote-client" {
    try await RemoteClientDemo.run(Array(CommandLine.arguments.dropFirst(2)))   // NetworkNamespaceTests
} else if CommandLine.arguments.dropFirst().first == "--demo-remote-worker" {
    try await RemoteWorkerDemo.run(Array(CommandLine.arguments.dropFirst(2)))   // RemoteWorkerTests
} else {
    print("MPTestWorker: a helper the tests start as a child; it runs nothing on its own.")
}

/// The children of `--demo-exit`, for its exit handler.
enum ExitDemo {
    static let children = Mutex<[ChildProcess]>([])
}
