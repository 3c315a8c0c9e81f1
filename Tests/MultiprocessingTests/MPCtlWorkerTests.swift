import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// `mpctl worker --connect`: a worker command on "another host" (here, another process tree)
/// joins this supervisor through its worker server, as a scheduler's job would start it.
@Suite(.serialized) struct MPCtlWorkerTests {
    static let key = Array("mpctl worker's secret".utf8)

    init() { TestWorker.use() }

    /// Writes `key` to a new owner-only file; its path.
    func keyFile(_ key: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mpctl-key-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: path, contents: Data(key + [UInt8(ascii: "\n")]), attributes: [.posixPermissions: 0o600]) else {
            throw ProcessError(.invalidArgument, "cannot write \(path)")
        }
        return path
    }

    @Test("it joins with its name, answers requests, and exits 0 when the supervisor ends its mailbox")
    func joins() async throws {
        if let reason = PythonWorker.unavailableReason {
            print("MPCtlWorkerTests: \(reason); skipped")
            return
        }
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let keyPath = try keyFile(Self.key)
        defer { try? FileManager.default.removeItem(atPath: keyPath) }
        let mpctl = Foundation.Process()
        mpctl.executableURL = URL(fileURLWithPath: FrontDoorTests.sibling("mpctl"))
        mpctl.arguments = ["worker", "--connect", server.address.description, "--authkey-file", keyPath, "--name", "job-7",
                           "--", "python3", PythonWorker.script]
        let errors = Pipe()
        mpctl.standardError = errors
        try mpctl.run()
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(worker.name == "job-7")
        #expect(try await worker.request(["n": 42], as: [String: Int].self) == ["n": 42])
        worker.closeMailbox()
        _ = try await worker.join(timeout: .seconds(30))
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        mpctl.waitUntilExit()
        #expect(mpctl.terminationStatus == 0, "stderr: \(text)")
        #expect(text.contains("exited with code 0; done"), "stderr: \(text)")
    }

    @Test("--tls-ca: it joins a supervisor serving workers with TLS; trusting another CA it is refused with exit 1")
    func joinsOverTLS() async throws {
        if let reason = PythonWorker.unavailableReason {
            print("MPCtlWorkerTests: \(reason); skipped")
            return
        }
        let folder = try RemoteTLSTests.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tls = try RemoteTLS.server(certificateChain: folder + "/server.pem", privateKey: folder + "/server.key")
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, tls: tls)
        defer { server.close() }
        let keyPath = try keyFile(Self.key)
        defer { try? FileManager.default.removeItem(atPath: keyPath) }
        let mpctl = Foundation.Process()
        mpctl.executableURL = URL(fileURLWithPath: FrontDoorTests.sibling("mpctl"))
        mpctl.arguments = ["worker", "--connect", server.address.description, "--authkey-file", keyPath, "--name", "tls-job",
                           "--tls-ca", folder + "/ca.pem", "--tls-server-name", "localhost", "--", "python3", PythonWorker.script]
        let errors = Pipe()
        mpctl.standardError = errors
        try mpctl.run()
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(worker.name == "tls-job")
        #expect(try await worker.request(["n": 7], as: [String: Int].self) == ["n": 7])
        worker.closeMailbox()
        _ = try await worker.join(timeout: .seconds(30))
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        mpctl.waitUntilExit()
        #expect(mpctl.terminationStatus == 0, "stderr: \(text)")

        let (status, _, refused) = try await FrontDoorTests.run(FrontDoorTests.sibling("mpctl"),
            ["worker", "--connect", server.address.description, "--authkey-file", keyPath,
             "--tls-ca", folder + "/other-ca.pem", "--tls-server-name", "localhost", "--", "/bin/cat"], limit: .seconds(30))
        #expect(status == 1, "stderr: \(refused)")
        #expect(refused.contains("TLS"), "stderr: \(refused)")
    }

    @Test("with the wrong key it is refused at once: exit 1 and an authentication error, nothing joins")
    func wrongKey() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let keyPath = try keyFile(Array("not the key".utf8))
        defer { try? FileManager.default.removeItem(atPath: keyPath) }
        let (status, _, errors) = try await FrontDoorTests.run(FrontDoorTests.sibling("mpctl"),
            ["worker", "--connect", server.address.description, "--authkey-file", keyPath, "--", "/bin/cat"], limit: .seconds(30))
        #expect(status == 1, "stderr: \(errors)")
        #expect(errors.lowercased().contains("authentication"), "stderr: \(errors)")
        await #expect(throws: (any Error).self) { _ = try await server.nextWorker(timeout: .milliseconds(300)) }
    }

    @Test("an unreadable key file or a command that is not found is refused before connecting")
    func badArguments() async throws {
        let (status, _, errors) = try await FrontDoorTests.run(FrontDoorTests.sibling("mpctl"),
            ["worker", "--connect", "127.0.0.1:9", "--authkey-file", "/nonexistent/key", "--", "/bin/cat"], limit: .seconds(30))
        #expect(status == 1 && errors.contains("cannot read a key from /nonexistent/key"), "stderr: \(errors)")
        let keyPath = try keyFile(Self.key)
        defer { try? FileManager.default.removeItem(atPath: keyPath) }
        let missing = try await FrontDoorTests.run(FrontDoorTests.sibling("mpctl"),
            ["worker", "--connect", "127.0.0.1:9", "--authkey-file", keyPath, "--", "no-such-worker-program"], limit: .seconds(30))
        #expect(missing.status == 1 && missing.errors.contains("command not found: no-such-worker-program"), "stderr: \(missing.errors)")
    }
}
