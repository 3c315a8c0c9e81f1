import Foundation
import MessagePack
import Testing
@testable import Multiprocessing

/// The Python package (issue 14, "Python stage, installable"): `pip install ./Protocols/python`
/// installs `mpwire` and `mpstage`, and a stage written with `@mpstage.stage` is a worker the
/// supervisor drives with the stage protocol: one request per item, a reply of output items,
/// an error answer for an item that raised, and the stage goes on.
@Suite(.serialized, .enabled(if: PythonWorker.unavailableReason == nil,
                             "needs python3 with msgpack (PythonWorker.unavailableReason)"))
struct PythonStagePackageTests {
    init() { TestWorker.use() }

    /// Installs the package (no network: its dependency, msgpack, is already here) into a new
    /// folder; that folder, to put on PYTHONPATH.
    static func install() throws -> String {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("mpstage-\(UUID().uuidString)").path
        // pip builds in the folder it is given (build/, *.egg-info): give it a copy, so the
        // checkout stays clean.
        let package = target + "-source"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: PythonWorker.script).deletingLastPathComponent().path, toPath: package)
        defer { try? FileManager.default.removeItem(atPath: package) }
        let pip = Process()
        pip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        pip.arguments = ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                         "--no-build-isolation", "--root-user-action=ignore", "--target", target, package]
        pip.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        pip.standardError = errors
        try pip.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        pip.waitUntilExit()
        guard pip.terminationStatus == 0 else { throw ProcessError(.invalidArgument, "pip install failed: \(message)") }
        return target
    }

    static let stage = """
        import mpstage

        @mpstage.stage
        def words(line):
            if line == "boom":
                raise ValueError("cannot split boom")
            if line.startswith("#"):
                return None
            return line.split()

        if __name__ == "__main__":
            words.run()
        """

    @Test("an installed @mpstage.stage answers each item with its outputs, an error for an item that raised, and goes on")
    func installedStage() async throws {
        let site = try Self.install()
        defer { try? FileManager.default.removeItem(atPath: site) }
        #expect(FileManager.default.fileExists(atPath: site + "/mpstage.py"))
        #expect(FileManager.default.fileExists(atPath: site + "/mpwire.py"))
        let script = site + "/words_stage.py"
        try Self.stage.write(toFile: script, atomically: true, encoding: .utf8)
        // Only the installed copy is importable: the script is not beside Protocols/python.
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = site
        environment["MP_STAGE"] = "words"
        let worker = try await ChildProcess.start(executable: "/usr/bin/env", arguments: ["python3", script],
                                                    options: .init(environment: environment, name: "words"))
        let split = try await worker.request("a bb ccc", as: [String].self, timeout: .seconds(10))
        #expect(split == ["a", "bb", "ccc"])
        let filtered = try await worker.request("# a comment", as: [String].self, timeout: .seconds(10))
        #expect(filtered.isEmpty)
        await #expect(throws: RemoteError.self) {
            _ = try await worker.request("boom", as: [String].self, timeout: .seconds(10))
        }
        do {
            _ = try await worker.request("boom", as: [String].self, timeout: .seconds(10))
        } catch let error as RemoteError {
            #expect(error.typeName == "builtins.ValueError")
            #expect(error.message == "cannot split boom")
        }
        let after = try await worker.request("still here", as: [String].self, timeout: .seconds(10))
        #expect(after == ["still", "here"])
        // The end of the pipeline: the mailbox closes, the stage returns and exits 0.
        worker.closeMailbox()
        _ = try await worker.join(timeout: .seconds(10))
        #expect(worker.exitCode == 0)
        try await PythonWorker.expectGone(worker)
    }
}
