import Foundation
import Glibc
import Multiprocessing
import Testing

/// A running pipeline reached through its control socket (`mpctl status`, `scale`, `stop`,
/// `restart`), the socket's defences, and `mpctl exec`.
@Suite("mpctl control and exec", .serialized)
struct ControlAndExecTests {
    @Test("status, scale, restart and stop reach a running pipeline; the socket and its key are owner-only and gone at the end")
    func control() async throws {
        let (run, folder) = try await startLongRun(name: "ctl")
        let control = folder + "/control"
        let files = try FileManager.default.contentsOfDirectory(atPath: control).filter { $0.hasPrefix("ctl.") }.sorted()
        #expect(files == ["ctl.\(run.process.processIdentifier).key", "ctl.\(run.process.processIdentifier).sock"])
        for file in files {
            let mode = try FileManager.default.attributesOfItem(atPath: control + "/" + file)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file) has mode \(String(mode ?? 0, radix: 8))")
        }

        let status = try await MPCtl.run(["status"], in: folder)
        #expect(status.status == 0, "stderr: \(status.errors)")
        #expect(status.output.contains("STAGE") && status.output.range(of: #"work\s+2/2"#, options: .regularExpression) != nil, "status: \(status.output)")

        let scaled = try await MPCtl.run(["scale", "work", "3"], in: folder)
        #expect(scaled.status == 0 && scaled.output.contains("stage work scaled to 3 workers"), "scale: \(scaled)")
        #expect(await run.waitFor { $0.contains("work[2] started") }, "stderr: \(run.errors)")
        let json = try await MPCtl.run(["status", "--json", "--pipeline", "ctl"], in: folder)
        let snapshot = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "status --json: \(json)")
        let stage = try #require((snapshot["stages"] as? [[String: Any]])?.first)
        #expect(stage["total"] as? Int == 3)

        let restarted = try await MPCtl.run(["restart", "work"], in: folder)
        #expect(restarted.status == 0, "restart: \(restarted)")
        #expect(run.errors.components(separatedBy: "work[0] started").count == 3, "stderr: \(run.errors)")

        let unknown = try await MPCtl.run(["scale", "nope", "2"], in: folder)
        #expect(unknown.status == 1 && unknown.errors.contains("no stage is named nope (stages: work)"), "scale nope: \(unknown)")

        let stopped = try await MPCtl.run(["stop"], in: folder)
        #expect(stopped.status == 0, "stop: \(stopped)")
        #expect(await run.wait(limit: .seconds(30)) == 130, "stderr: \(run.errors)")
        #expect(run.errors.contains("pipeline ctl interrupted"), "stderr: \(run.errors)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: control).filter { $0.hasPrefix("ctl.") }.isEmpty)
    }

    @Test("stop STAGE pauses a stage (its workers finish and end, its input waits) until scale starts workers again")
    func pauseAndResume() async throws {
        let (run, folder) = try await startLongRun(name: "pause")
        let stopped = try await MPCtl.run(["stop", "work"], in: folder)
        #expect(stopped.status == 0 && stopped.output.contains("stopped stage work"), "stop work: \(stopped)")
        var paused: [String: Any] = [:]
        for _ in 0..<300 {
            let json = try await MPCtl.run(["status", "--json"], in: folder)
            let snapshot = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "status: \(json)")
            paused = try #require((snapshot["stages"] as? [[String: Any]])?.first)
            if paused["alive"] as? Int == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(paused["alive"] as? Int == 0 && paused["total"] as? Int == 0, "stage: \(paused)")
        // They ended by themselves (their mailboxes closed, the grace is 1 s) and were not restarted.
        #expect(!run.errors.contains("killed by") && !run.errors.contains("restarting"), "stderr: \(run.errors)")
        let before = paused["items_in"] as? Int ?? -1
        try await Task.sleep(for: .milliseconds(500))
        let still = try await MPCtl.run(["status", "--json"], in: folder)
        #expect(still.output.contains("\"items_in\":\(before),"), "the paused stage took items: \(still.output)")
        // The queue filled up behind it, and the run did not end.
        #expect(run.process.isRunning)
        let resumed = try await MPCtl.run(["scale", "work", "1"], in: folder)
        #expect(resumed.status == 0, "scale: \(resumed)")
        #expect(await run.waitFor { $0.contains("work[2] started") }, "stderr: \(run.errors)")
        run.signal(SIGINT)
        #expect(await run.wait(limit: .seconds(30)) == 130)
    }

    @Test("a peer without the key, and one that sends garbage, are turned away while the pipeline goes on")
    func garbageOnTheSocket() async throws {
        let (run, folder) = try await startLongRun(name: "bad-peer")
        let socket = try #require(try FileManager.default.contentsOfDirectory(atPath: folder + "/control").first { $0.hasSuffix(".sock") })
        // Raw bytes instead of the handshake: the listener closes the connection.
        let answer = try rawExchange(path: folder + "/control/" + socket, send: Array("GET / HTTP/1.0\r\n\r\n".utf8))
        #expect(answer.closed, "the socket kept a peer that sent garbage")
        // The right key but a frame that is not a request: answered with an error, then disconnected.
        let key = try #require(FileManager.default.contents(atPath: folder + "/control/" + socket.dropLast(5) + ".key"))
        let connection = try await Client(address: .unix(path: folder + "/control/" + socket), authkey: Array(key))
        defer { connection.close() }
        try await connection.send(bytes: [0x93, 0x01, 0x02, 0x03])           // [1, 2, 3]: no command
        let reply = try await connection.receiveBytes(timeout: .seconds(10))
        #expect(String(decoding: reply, as: UTF8.self).contains("not a control request"))
        await #expect(throws: (any Error).self) { _ = try await connection.receiveBytes(timeout: .seconds(10)) }
        let status = try await MPCtl.run(["status"], in: folder)
        #expect(status.status == 0 && status.output.contains("work"), "status after garbage: \(status)")
        run.signal(SIGINT)
        #expect(await run.wait(limit: .seconds(30)) == 130)
    }

    @Test("exec: N workers over standard input's lines, results in input order; --unordered gives the same lines")
    func exec() async throws {
        let folder = try RunFixture.folder(["upper.py": """
            import mpstage

            @mpstage.stage
            def upper(line):
                if line == "bad":
                    raise ValueError("bad line")
                return [line.upper(), line.upper()]

            if __name__ == "__main__":
                upper.run()
            """])
        let words = (0..<60).map { "word\($0)" }
        let ordered = try MPCtl(["exec", "-n", "3", "--", "python3", "upper.py"], in: folder, input: words.joined(separator: "\n") + "\n")
        #expect(await ordered.wait() == 0, "stderr: \(ordered.errors)")
        #expect(ordered.output.split(separator: "\n").map(String.init) == words.flatMap { [$0.uppercased(), $0.uppercased()] })

        let unordered = try MPCtl(["exec", "-n", "3", "--unordered", "--", "python3", "upper.py"], in: folder,
                                  input: words.joined(separator: "\n") + "\n")
        #expect(await unordered.wait() == 0, "stderr: \(unordered.errors)")
        #expect(unordered.output.split(separator: "\n").map(String.init).sorted() == words.flatMap { [$0.uppercased(), $0.uppercased()] }.sorted())

        let failing = try MPCtl(["exec", "-n", "2", "--", "python3", "upper.py"], in: folder, input: "a\nbad\nb\n")
        #expect(await failing.wait() == 1)
        #expect(failing.output == "A\nA\nB\nB\n")
        #expect(failing.errors.contains("item bad failed: builtins.ValueError: bad line"), "stderr: \(failing.errors)")
        #expect(failing.errors.contains("1 of 3 items failed"), "stderr: \(failing.errors)")
    }

    @Test("items are sent ahead only to a worker that answers quickly: a slow worker is not handed items the quick one could take")
    func sendingAheadOnlyToQuickWorkers() async throws {
        let folder = try RunFixture.folder(["uneven.py": """
            import os
            import time
            import mpstage

            SLOW = os.environ.get("MP_NAME", "").endswith("[0]")

            @mpstage.stage
            def uneven(line):
                time.sleep(0.3 if SLOW else 0.002)
                return [("slow " if SLOW else "quick ") + line]

            if __name__ == "__main__":
                uneven.run()
            """])
        let lines = (0..<40).map { "line\($0)" }
        let run = try MPCtl(["exec", "-n", "2", "--unordered", "--", "python3", "uneven.py"], in: folder,
                            input: lines.joined(separator: "\n") + "\n")
        #expect(await run.wait() == 0, "stderr: \(run.errors)")
        let results = run.output.split(separator: "\n").map(String.init)
        #expect(results.map { String($0.split(separator: " ")[1]) }.sorted() == lines.sorted(), "every line once")
        // Sent ahead blindly (16 in flight), the slow worker would hold about 16 lines for 5 s.
        let slow = results.filter { $0.hasPrefix("slow ") }.count
        #expect(slow <= 3, "the slow worker answered \(slow) lines: \(results)")
    }

    @Test("exec without a command says how to give one")
    func execWithoutCommand() async throws {
        let folder = try RunFixture.folder([:])
        let run = try MPCtl(["exec", "-n", "2"], in: folder)
        #expect(await run.wait() != 0)
        #expect(run.errors.contains("give the worker command after --"), "stderr: \(run.errors)")
    }

    /// `mpctl run` of a long pipeline named `name` (two slow workers), once both workers started.
    func startLongRun(name: String) async throws -> (MPCtl, String) {
        let folder = try RunFixture.folder(["stubborn.py": RunFixture.stubborn,
                                            "pipeline.yaml": RunFixture.pipeline(name: name, stop: 100_000, command: "[python3, stubborn.py]")])
        let run = try MPCtl(["run", "--grace", "1", "pipeline.yaml"], in: folder)
        #expect(await run.waitFor { $0.contains("work[1] started") }, "stderr: \(run.errors)")
        return (run, folder)
    }

    /// Connects to the Unix socket at `path`, sends `bytes`, and reports whether the peer closed
    /// the connection (within 10 s).
    func rawExchange(path: String, send bytes: [UInt8]) throws -> (closed: Bool, received: [UInt8]) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return (true, received) }
            if count < 0 { return (errno == ECONNRESET, received) }
            received += buffer[..<count]
        }
    }
}
