import Foundation
import Testing
@testable import Multiprocessing

/// A terminal's Ctrl-C reaches only the supervisor (children lead their own process groups);
/// it stops the children in reverse start order and exits with 130.
@Suite(.serialized) struct InterruptTests {
    func launchDemo(_ mode: String) throws -> (process: Foundation.Process, output: Pipe, errors: Pipe) {
        try TestWorker.launchDemo([mode])
    }

    @Test func ctrlCStopsTheTreeInReverseOrderAndExits130() async throws {
        let (demo, output, errors) = try launchDemo("--demo-supervisor")
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }

        // "ready PID PID PID" once the three workers run.
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        let pids = line.split(separator: " ").dropFirst().compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(pids.count == 3, "got: \(line)")

        kill(demo.processIdentifier, SIGINT)
        demo.waitUntilExit()
        #expect(demo.terminationReason == .exit)
        #expect(demo.terminationStatus == 130)

        let report = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stopped = report.split(separator: "\n").filter { $0.contains("stopped") && $0.contains("(pid") }
        #expect(stopped.map { String($0.split(separator: " ")[2]) } == ["third", "second", "first"], "\(report)")
        for pid in pids {
            #expect(kill(pid, 0) != 0 || ProcessControl.status(of: pid)?.state == Character("Z"), "worker \(pid) outlived its supervisor")
        }
    }

    @Test func prefixedOutputNamesTheChildOnEveryLine() throws {
        let (demo, output, errors) = try launchDemo("--demo-output")
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        demo.waitUntilExit()
        #expect(demo.terminationStatus == 0)
        #expect(out == "[printer] hello\n[printer] world\n", "a last line without a newline is completed")
        #expect(err == "[printer] oops\n")
    }
}
