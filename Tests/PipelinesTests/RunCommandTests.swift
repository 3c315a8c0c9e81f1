import Foundation
import Glibc
import Testing

/// `mpctl run FILE` as an operator runs it: the built binary, real worker processes (Python
/// stages through mpstage), a pipeline file on disk, and what it prints and leaves behind.
@Suite("mpctl run", .serialized)
struct RunCommandTests {
    @Test("it runs the source through the stages to the sink, reports an item that failed, exits 0, and leaves nothing running")
    func completes() async throws {
        let folder = try RunFixture.folder(["double.py": RunFixture.double,
                                            "pipeline.yaml": RunFixture.pipeline(command: "[python3, double.py]")])
        let (status, left, run) = try await runInOwnNamespace("'\(RunFixture.mpctl)' run pipeline.yaml", in: folder)
        #expect(status == 0, "stderr: \(run.errors)")
        #expect(left == "", "processes left: \(left)")
        let results = try String(contentsOfFile: folder + "/out.txt", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        // Every item but 13 (whose ValueError is reported, not fatal), each exactly once.
        #expect(results.sorted() == (0..<40).filter { $0 != 13 }.map { $0 * 2 })
        #expect(run.errors.contains("item failed: 13: builtins.ValueError: unlucky 13"), "stderr: \(run.errors)")
        #expect(run.errors.contains("pipeline test completed in "), "stderr: \(run.errors)")
        #expect(run.errors.contains("work: 40 in, 39 out, 1 failed, 0 restarts"), "stderr: \(run.errors)")
    }

    @Test("a worker that crashes is restarted by policy and the item it died with goes to its successor: nothing lost, nothing twice")
    func restartsAndRedelivers() async throws {
        let folder = try RunFixture.folder(["crashy.py": RunFixture.crashy,
                                            "pipeline.yaml": RunFixture.pipeline(stop: 100, command: "[python3, crashy.py]",
                                                                                 environment: "{CRASH_EVERY: 9}")])
        let run = try MPCtl(["run", "pipeline.yaml"], in: folder)
        #expect(await run.wait() == 0, "stderr: \(run.errors)")
        let results = try String(contentsOfFile: folder + "/out.txt", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        #expect(results.sorted() == (0..<100).map { $0 * $0 })
        // Each crash is said with the worker's own line, prefixed with its name, and its restart.
        #expect(run.errors.range(of: #"work\[[01]\] \| crashing on \d+"#, options: .regularExpression) != nil, "stderr: \(run.errors)")
        #expect(run.errors.range(of: #"mpctl work\[[01]\] restarting"#, options: .regularExpression) != nil, "stderr: \(run.errors)")
        let summary = run.errors.split(separator: "\n").first { $0.hasPrefix("  work: ") } ?? ""
        #expect(summary.hasPrefix("  work: 100 in, 100 out, 0 failed, "), "stderr: \(run.errors)")
        #expect(!summary.contains(" 0 restarts") && !summary.contains(" 0 redelivered"), "stderr: \(run.errors)")
    }

    @Test("when restart intensity runs out it stops everything, names the stage, the reason and the worker's last lines, exits 1")
    func intensityExhausted() async throws {
        let folder = try RunFixture.folder(["crashy.py": RunFixture.crashy,
                                            "pipeline.yaml": RunFixture.pipeline(stop: 1000, command: "[python3, crashy.py]", count: 1,
                                                                                 restart: "{policy: permanent, intensity: 2, period: 30}",
                                                                                 environment: "{CRASH_EVERY: 3}")])
        let (status, left, run) = try await runInOwnNamespace("'\(RunFixture.mpctl)' run pipeline.yaml", in: folder)
        #expect(status == 1, "stderr: \(run.errors)")
        #expect(left == "", "processes left: \(left)")
        #expect(run.errors.contains("pipeline test failed in "), "stderr: \(run.errors)")
        #expect(run.errors.contains("error: stage work: restart intensity exhausted: work[0] needed more than 2 restart(s) within 30.0 seconds"),
                "stderr: \(run.errors)")
        #expect(run.errors.contains("last lines on its workers' standard error:"), "stderr: \(run.errors)")
        #expect(run.errors.range(of: #"    work\[0\]: crashing on \d+"#, options: .regularExpression) != nil, "stderr: \(run.errors)")
    }

    @Test("a worker that does not speak the protocol is reported by name with its last lines, and nothing is left running")
    func notAWorker() async throws {
        let folder = try RunFixture.folder(["pipeline.yaml": RunFixture.pipeline(
            command: #"[sh, -c, "echo 'I am not a worker' >&2; exit 3"]"#, restart: "{policy: permanent, intensity: 1, period: 5}")])
        let (status, left, run) = try await runInOwnNamespace("'\(RunFixture.mpctl)' run pipeline.yaml", in: folder)
        #expect(status == 1, "stderr: \(run.errors)")
        #expect(left == "", "processes left: \(left)")
        #expect(run.errors.contains("error: stage work: a worker cannot start: "), "stderr: \(run.errors)")
        #expect(run.errors.contains("work[0]") && run.errors.contains("I am not a worker"), "stderr: \(run.errors)")
    }

    @Test("a worker that fails at its start is tried again by its policy, and the run completes")
    func aStartFailureIsHandledByThePolicy() async throws {
        let folder = try RunFixture.folder(["once.py": """
            import os, sys
            # The first start of all fails before the handshake; the ones after it work.
            marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "started-once")
            if not os.path.exists(marker):
                open(marker, "w").close()
                print("first start: failing on purpose", file=sys.stderr, flush=True)
                sys.exit(3)
            import mpstage

            @mpstage.stage
            def same(x):
                return [x]

            if __name__ == "__main__":
                same.run()
            """, "pipeline.yaml": RunFixture.pipeline(stop: 20, command: "[python3, once.py]", count: 1,
                                                     restart: "{policy: permanent, intensity: 2, period: 10}")])
        let run = try MPCtl(["run", "pipeline.yaml"], in: folder)
        #expect(await run.wait() == 0, "stderr: \(run.errors)")
        #expect(run.errors.contains("work[0] | first start: failing on purpose"), "stderr: \(run.errors)")
        #expect(run.errors.contains("mpctl work[0] restarting"), "stderr: \(run.errors)")
        #expect(run.errors.contains("work: 20 in, 20 out, 0 failed, 1 restart,"), "stderr: \(run.errors)")
    }

    @Test("a file with an unknown key or a missing command is refused with its line and key, before anything starts")
    func badFile() async throws {
        let folder = try RunFixture.folder(["pipeline.yaml": """
            name: bad
            queues: {a: {}, b: {}}
            source: {range: 5, to: a}
            stages:
              - {name: one, command: [no-such-program-here], input: a, output: b, colour: blue}
            sink: {from: b}
            """])
        let run = try MPCtl(["run", "pipeline.yaml"], in: folder)
        #expect(await run.wait() == 1)
        #expect(run.errors.range(of: #"pipeline\.yaml:5:\d+: error: stages\[0\]\.colour: unknown key"#, options: .regularExpression) != nil,
                "stderr: \(run.errors)")
        #expect(run.errors.contains("stages[0].command: command not found"), "stderr: \(run.errors)")
        #expect(run.errors.contains("2 errors; nothing was started"), "stderr: \(run.errors)")
    }

    @Test("--json: one JSON object per line, from the first start to the summary")
    func jsonEvents() async throws {
        let folder = try RunFixture.folder(["double.py": RunFixture.double,
                                            "pipeline.yaml": RunFixture.pipeline(command: "[python3, double.py]")])
        let run = try MPCtl(["run", "--json", "--interval", "0.1", "pipeline.yaml"], in: folder)
        #expect(await run.wait() == 0, "stderr: \(run.errors)")
        let events = try run.output.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
        let kinds = events.compactMap { $0["event"] as? String }
        #expect(kinds.filter { $0 == "start" }.count == 2)
        #expect(kinds.last == "summary")
        #expect(kinds.contains("item_failed"))
        #expect(events.allSatisfy { $0["elapsed"] is Double || $0["elapsed"] is Int })
        let start = try #require(events.first { $0["event"] as? String == "start" })
        #expect(start["stage"] as? String == "work" && (start["worker"] as? String)?.hasPrefix("work[") == true && start["pid"] is Int)
        let summary = try #require(events.last)
        #expect(summary["outcome"] as? String == "completed" && summary["exit_status"] as? Int == 0)
        let snapshot = try #require(summary["snapshot"] as? [String: Any])
        #expect(snapshot["source_read"] as? Int == 40 && snapshot["source_total"] as? Int == 40 && snapshot["sink_written"] as? Int == 39)
        let stage = try #require((snapshot["stages"] as? [[String: Any]])?.first)
        #expect(stage["items_in"] as? Int == 40 && stage["failed"] as? Int == 1 && stage["state"] as? String == "done")
    }

    @Test("SIGINT stops the stages in order, prints the summary and exits 130; a second SIGINT kills at once")
    func interrupts() async throws {
        let folder = try RunFixture.folder(["stubborn.py": RunFixture.stubborn,
                                            "pipeline.yaml": RunFixture.pipeline(stop: 100_000, command: "[python3, stubborn.py]")])
        // The workers ignore SIGTERM: the first SIGINT would wait out the 30 s grace; the second ends it now.
        let run = try MPCtl(["run", "--grace", "30", "pipeline.yaml"], in: folder)
        #expect(await run.waitFor { $0.contains("work[0] started") && $0.contains("work[1] started") }, "stderr: \(run.errors)")
        try await Task.sleep(for: .milliseconds(300))
        let pids = try workerPIDs(of: run.process.processIdentifier).filter { command(of: $0)?.hasPrefix("python3") == true }
        #expect(pids.count == 2)
        run.signal(SIGINT)
        #expect(await run.waitFor(limit: .seconds(10)) { $0.contains("SIGINT: stopping every child in order") }, "stderr: \(run.errors)")
        let started = ContinuousClock.now
        run.signal(SIGINT)
        #expect(await run.wait(limit: .seconds(20)) == 130, "stderr: \(run.errors)")
        #expect(ContinuousClock.now - started < .seconds(10), "the second SIGINT did not kill at once")
        try await Task.sleep(for: .milliseconds(200))
        for pid in pids { #expect(isGone(pid), "worker \(pid) outlived mpctl") }
    }

    @Test("SIGTERM with well-behaved workers: they stop, the summary says interrupted, exit 143")
    func terminates() async throws {
        let folder = try RunFixture.folder(["double.py": RunFixture.double,
                                            "pipeline.yaml": RunFixture.pipeline(stop: 10_000_000, command: "[python3, double.py]")])
        let run = try MPCtl(["run", "pipeline.yaml"], in: folder)
        #expect(await run.waitFor { $0.contains("work[1] started") }, "stderr: \(run.errors)")
        run.signal(SIGTERM)
        #expect(await run.wait(limit: .seconds(30)) == 143, "stderr: \(run.errors)")
        #expect(run.errors.contains("pipeline test interrupted in "), "stderr: \(run.errors)")
    }

    @Test("--log-dir keeps each worker's lines in a file of its own, unprefixed")
    func logDirectory() async throws {
        let folder = try RunFixture.folder(["crashy.py": RunFixture.crashy,
                                            "pipeline.yaml": RunFixture.pipeline(stop: 20, command: "[python3, crashy.py]", count: 1,
                                                                                 environment: "{CRASH_EVERY: 5}")])
        let run = try MPCtl(["run", "--log-dir", "logs", "pipeline.yaml"], in: folder)
        #expect(await run.wait() == 0, "stderr: \(run.errors)")
        let log = try String(contentsOfFile: folder + "/logs/work[0].log", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 4 && log.split(separator: "\n").allSatisfy { $0.hasPrefix("crashing on ") }, "log: \(log)")
    }

    @Test("on a terminal it draws a table in place, then leaves the summary")
    func liveView() async throws {
        let folder = try RunFixture.folder(["slow.py": RunFixture.stubborn,
                                            "pipeline.yaml": RunFixture.pipeline(stop: 40, command: "[python3, slow.py]")])
        // `script` gives mpctl a pseudo-terminal (-e: its status is mpctl's); the typescript is what was drawn.
        let run = try MPCtl(["-qefc", "'\(RunFixture.mpctl)' run pipeline.yaml", folder + "/typescript"], in: folder,
                            executable: "/usr/bin/script", environment: {
                                var environment = RunFixture.environment(controlFolder: folder + "/control")
                                environment["TERM"] = "xterm"
                                environment["NO_COLOR"] = nil
                                return environment
                            }())
        #expect(await run.wait() == 0, "stderr: \(run.errors)")
        let drawn = try String(contentsOfFile: folder + "/typescript", encoding: .utf8)
        #expect(drawn.contains("STAGE  WORKERS  RESTARTS  IN  OUT  FAILED  QUEUE  ITEMS/S"), "drawn: \(drawn)")
        #expect(drawn.contains("\u{1B}[3F\u{1B}[J"), "the table was not redrawn in place: \(drawn)")   // up over its 3 lines, clear
        #expect(drawn.contains("\u{1B}[32m"), "no color on a terminal")
        #expect(drawn.range(of: #"\] \d+/40 read  \d+%"#, options: .regularExpression) != nil, "no progress bar: \(drawn)")
        #expect(drawn.contains("pipeline test \u{1B}[32mcompleted\u{1B}[0m in "), "drawn: \(drawn)")
        #expect(drawn.contains("  work: 40 in, 40 out, 0 failed, 0 restarts"), "drawn: \(drawn)")
    }

    /// The command name of `pid`, nil when it is gone.
    func command(of pid: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `pid` is gone or a zombie (dead, waiting to be reaped by whoever adopted it).
    func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    /// The pids of `parent`'s children (any of its threads may have spawned them).
    func workerPIDs(of parent: Int32) throws -> [Int32] {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(parent)/task")
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(parent)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
        }
    }
}
