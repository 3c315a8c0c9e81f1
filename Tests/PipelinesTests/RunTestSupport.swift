import Foundation
import Glibc

/// What the `mpctl run` tests share: the built binaries, folders with a pipeline and its Python
/// stages written into them, and mpctl started as an operator starts it (its output in files,
/// so a chatty run never fills a pipe).
enum RunFixture {
    /// The package's root, from this file's place in it.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    /// Where `swift build` put mpctl, the examples and this test bundle.
    static let buildFolder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
    static var mpctl: String { buildFolder + "/mpctl" }

    /// mpctl's environment: the build folder first on PATH (the examples' stages), the
    /// repository's Python package importable (mpstage), and a control folder of the test's own.
    static func environment(controlFolder: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = buildFolder + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["PYTHONPATH"] = repository + "/Protocols/python"
        environment["MPCTL_RUNTIME_DIR"] = controlFolder
        environment["NO_COLOR"] = "1"
        return environment
    }

    /// A new folder holding `files` (name: text); Python files are made executable.
    static func folder(_ files: [String: String]) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mpctl-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/control", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        for (name, text) in files {
            try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
            if name.hasSuffix(".py") { chmod(folder + "/" + name, 0o755) }
        }
        return folder
    }

    /// A stage that doubles integers and fails the item 13 with a ValueError.
    static let double = """
        import mpstage

        @mpstage.stage
        def double(x):
            if x == 13:
                raise ValueError("unlucky 13")
            return [x * 2]

        if __name__ == "__main__":
            double.run()
        """

    /// A stage that squares integers and crashes (exit 3) on every CRASH_EVERY-th item it gets,
    /// saying so on standard error first.
    static let crashy = """
        import os, sys
        import mpstage

        every = int(os.environ.get("CRASH_EVERY", "7"))
        received = 0

        @mpstage.stage
        def square(x):
            global received
            received += 1
            if received % every == 0:
                print(f"crashing on {x}", file=sys.stderr, flush=True)
                os._exit(3)
            return [x * x]

        if __name__ == "__main__":
            square.run()
        """

    /// A slow stage that ignores SIGTERM (only SIGKILL ends it).
    static let stubborn = """
        import signal, time
        import mpstage

        signal.signal(signal.SIGTERM, signal.SIG_IGN)

        @mpstage.stage
        def slow(x):
            time.sleep(0.05)
            return [x]

        if __name__ == "__main__":
            slow.run()
        """

    /// A pipeline of one stage over `range(0, stop)`, with a file sink `out.txt`.
    static func pipeline(name: String = "test", stop: Int = 40, command: String, count: Int = 2,
                         restart: String = "{policy: permanent, intensity: 20, period: 5}",
                         environment: String = "{}") -> String {
        """
        name: \(name)
        queues:
          numbers: {maxsize: 4}
          results: {}
        source: {range: {start: 0, stop: \(stop)}, to: numbers}
        stages:
          - name: work
            command: \(command)
            count: \(count)
            input: numbers
            output: results
            restart: \(restart)
            environment: \(environment)
        sink: {from: results, file: out.txt}
        """
    }
}

/// mpctl started in the background, its output going to files.
final class MPCtl: @unchecked Sendable {
    let process = Process()
    let folder: String
    private let outputPath: String
    private let errorPath: String

    /// Starts `mpctl ARGUMENTS` in `folder`; `input` becomes its standard input.
    init(_ arguments: [String], in folder: String, input: String? = nil, executable: String = RunFixture.mpctl,
         environment: [String: String]? = nil) throws {
        self.folder = folder
        outputPath = folder + "/mpctl.out"
        errorPath = folder + "/mpctl.err"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        process.environment = environment ?? RunFixture.environment(controlFolder: folder + "/control")
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        if let input {
            let path = folder + "/mpctl.in"
            try input.write(toFile: path, atomically: true, encoding: .utf8)
            process.standardInput = FileHandle(forReadingAtPath: path)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Waits until it exits (killed after `limit`): its status, nil if it had to be killed.
    func wait(limit: Duration = .seconds(90)) async -> Int32? {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    /// Waits until `condition` holds of its standard error (true), or `limit` passed (false).
    func waitFor(limit: Duration = .seconds(60), _ condition: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline {
            if condition(errors) { return true }
            if !process.isRunning { return condition(errors) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Runs `mpctl ARGUMENTS` to its end (a control command): status, stdout, stderr.
    static func run(_ arguments: [String], in folder: String) async throws -> (status: Int32?, output: String, errors: String) {
        let command = try MPCtl(arguments, in: folder + "/control", environment: RunFixture.environment(controlFolder: folder + "/control"))
        let status = await command.wait(limit: .seconds(30))
        return (status, command.output, command.errors)
    }
}

/// Runs `command` (a shell command line) in a PID namespace of its own, whose first process
/// lists what is left once the command returned: every process and zombie it left behind.
/// Returns the command's status and that list (empty: nothing outlived it).
func runInOwnNamespace(_ command: String, in folder: String) async throws -> (status: Int32?, left: String, run: MPCtl) {
    let script = command + #"; code=$?; left=""; for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = 1 ] && continue; [ "$p" = "$$" ] && continue; read c < $d/comm; left="$left $p:$c"; done; echo "code=$code left=[$left]""#
    let run = try MPCtl(["--pid", "--fork", "--kill-child", "--mount-proc", "/bin/sh", "-c", script], in: folder,
                        executable: "/usr/bin/unshare")
    _ = await run.wait()
    let last = run.output.split(separator: "\n").last.map(String.init) ?? ""
    guard let codeRange = last.range(of: "code="), let leftRange = last.range(of: " left=[") else { return (nil, "no report: \(run.output)", run) }
    let status = Int32(last[codeRange.upperBound..<leftRange.lowerBound])
    return (status, String(last[leftRange.upperBound...].dropLast()).trimmingCharacters(in: .whitespaces), run)
}
