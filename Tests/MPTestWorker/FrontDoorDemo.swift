import CShims
import Foundation
import MPTestEntries
import Multiprocessing

/// Parents the front-door tests (FrontDoorTests) run as processes of their own.
enum FrontDoorDemo {
    /// Lowers RLIMIT_NOFILE to one descriptor above what is open, then starts a child: the
    /// runtime cannot start, which must be a typed error ("error CODE" on stdout), not a crash.
    static func tooFewDescriptors() async throws {
        let open = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap(Int.init))
        // The lowest limit that leaves two descriptor numbers free.
        var free = 0, number = 0
        while free < 2 {
            if !open.contains(number) { free += 1 }
            number += 1
        }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = rlim_t(number)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            FileHandle.standardOutput.write(Data("setrlimit failed\n".utf8))
            exit(2)
        }
        do {
            _ = try await ChildProcess.run(TestEntries.square, 3)
            FileHandle.standardOutput.write(Data("started\n".utf8))
        } catch let error as ProcessError {
            FileHandle.standardOutput.write(Data("error \(error.code)\n\(error)\n".utf8))
        }
    }

    /// Starts the Python worker as a daemon through a shell that first starts a background
    /// `sleep` in the worker's process group, prints "pids WORKER SLEEP" and returns from
    /// main: the exit must terminate the daemon's whole group at once (no 10 s join). The
    /// shell writes its signal mask and ignored set to "status" (the trampoline's path).
    static func foreignDaemon(script: String, directory: String) async throws {
        let file = directory + "/sleep.pid"
        let worker = try await ChildProcess.start(
            executable: "/bin/sh",
            arguments: ["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status > \"$2\"; sleep 60 & echo $! > \"$1\"; exec python3 \"$0\"",
                        script, file, directory + "/status"],
            options: ProcessOptions(name: "foreign-daemon", daemon: true))
        var sleeper = ""
        while sleeper.isEmpty {
            sleeper = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if sleeper.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        }
        FileHandle.standardOutput.write(Data("pids \(worker.pid) \(sleeper)\n".utf8))
    }

    /// This process's resident set in KiB (`/proc/self/statm`, second field, in pages).
    static func residentKiB() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }

    /// `cycles` spawn/exit cycles (a function run, a start and join, a killed sleeper, in
    /// turn), printing "rss CYCLE KIB heap KIB ..." ten times and, at the end, the growth per
    /// cycle after the first fifth (the warm-up): a soak for scripts/long-spawn-run, not a
    /// timed test.
    static func spawnCycles(_ cycles: Int) async throws {
        let step = max(1, cycles / 10)
        var afterWarmUp: Int?
        for cycle in 1...cycles {
            switch cycle % 3 {
            case 0:
                _ = try await ChildProcess.run(TestEntries.square, cycle)
            case 1:
                let child = try await ChildProcess.start(TestEntries.nothing, 0)
                try await child.join()
            default:
                let child = try await ChildProcess.start(TestEntries.sleep, 60_000)
                child.kill()
                try await child.join()
            }
            if cycle % step == 0 {
                let rss = residentKiB()
                if cycle == 2 * step { afterWarmUp = rss }
                FileHandle.standardOutput.write(Data("rss \(cycle) \(rss) KiB heap \(mp_heap_bytes_in_use() / 1024) KiB fds \((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0) threads \((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0)\n".utf8))
            }
        }
        if let afterWarmUp, cycles > 2 * step {
            let growth = Double(residentKiB() - afterWarmUp) * 1024 / Double(cycles - 2 * step)
            FileHandle.standardOutput.write(Data("growth after warm-up: \(String(format: "%.0f", growth)) bytes of RSS per cycle over the last \(cycles - 2 * step) cycles\n".utf8))
        }
    }
}
