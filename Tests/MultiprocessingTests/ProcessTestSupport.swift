import Foundation
import MPTestEntries
@testable import Multiprocessing

/// Tests start `MPTestWorker` (built beside the test bundle) as every child: in `swift test`
/// this process is the test bundle, which registers no entries (NOTES-linux.md).
enum TestWorker {
    static let path: String = {
        var bundle = URL(fileURLWithPath: try! ProcessControl.currentExecutablePath())
        // .../debug/swift-multiprocessingPackageTests.xctest -> .../debug/MPTestWorker
        bundle.deleteLastPathComponent()
        return bundle.appendingPathComponent("MPTestWorker").path
    }()

    /// Points children at MPTestWorker and registers the same entries it does, through
    /// bootstrap as a program would (the runtime refuses to start children before it, and
    /// refuses entries this process does not register). Once per process.
    static func use() {
        _ = bootstrapped
        Multiprocessing.defaultExecutable = path
    }

    private static let bootstrapped: Void = {
        do {
            try Multiprocessing.bootstrapBlocking(functions: TestEntries.functions + QueueEntries.functions + PoolEntries.functions + ManagerEntries.functions + RemoteManagerEntries.functions + RemoteWorkerEntries.functions,
                                                  workers: TestEntries.workers + PoolEntries.workers + RemoteWorkerEntries.workers, managed: ManagerEntries.managed)
        } catch {
            fatalError("the test bundle could not bootstrap: \(error)")
        }
    }()

    /// Starts MPTestWorker as a parent (no entry) in one of its demo modes, with its output
    /// and errors in pipes.
    static func launchDemo(_ arguments: [String]) throws -> (process: Foundation.Process, output: Pipe, errors: Pipe) {
        let demo = Foundation.Process()
        demo.executableURL = URL(fileURLWithPath: path)
        demo.arguments = arguments
        let output = Pipe(), errors = Pipe()
        demo.standardOutput = output
        demo.standardError = errors
        try demo.run()
        return (demo, output, errors)
    }
}

extension SlowCounter {
    /// Asks `counter` (a running `SlowCounter`) how many messages it has counted, every 20 ms,
    /// until it reaches `expected` or `polls` answers came; returns the last count.
    static func count(of counter: ChildProcess, reaching expected: Int, polls: Int) async throws -> Int {
        var received = 0
        for _ in 0..<polls where received < expected {
            received = try await counter.request(0, as: Int.self)
            if received < expected { try await Task.sleep(for: .milliseconds(20)) }
        }
        return received
    }
}
