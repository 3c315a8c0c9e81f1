import Foundation
import Testing

/// `mpctl check FILE` as an operator runs it: the built binary, a file on disk, the exit status
/// and what is printed.
@Suite("mpctl check")
struct CheckCommandTests {
    /// `mpctl`, built beside this test bundle.
    static var mpctl: String {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return bundle.deletingLastPathComponent().appendingPathComponent("mpctl").path
    }

    /// Runs mpctl with `arguments`; its status, standard output and standard error.
    static func mpctl(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpctl)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// Writes `text` to a new file in a new folder; the file's path.
    static func file(_ text: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mpctl-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("pipeline.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a good file: exit 0 and a one-line summary")
    func good() throws {
        let path = try Self.file("""
            name: upper
            queues: {in: 4, out: 4}
            source: {range: 10, to: in}
            stages:
              - {name: copy, command: cat, count: 2, input: in, output: out}
            sink: {from: out}
            """)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let run = try Self.mpctl(["check", path])
        #expect(run.status == 0)
        #expect(run.output == "\(path): ok: pipeline \"upper\", 1 stage (2 workers), 2 queues\n")
        #expect(run.errors.isEmpty)
    }

    @Test("a bad file: exit 1, each problem as FILE:LINE:COLUMN: error: KEY: MESSAGE, then the count")
    func bad() throws {
        let path = try Self.file("""
            queues: {in: 4}
            source: {range: 10, to: in}
            stages:
              - name: copy
                command: definitely-not-installed-here
                count: many
                input: in
            """)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let run = try Self.mpctl(["check", path])
        #expect(run.status == 1)
        #expect(run.output.isEmpty)
        let lines = run.errors.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first?.hasPrefix("\(path):5:14: error: stages[0].command: command not found") == true)
        #expect(lines.dropFirst().first == "\(path):6:12: error: stages[0].count: expected an integer, found the string \"many\"")
        #expect(lines.last == "\(path): 2 errors")
        // --no-commands skips the lookup: only the type error is left.
        let skipping = try Self.mpctl(["check", "--no-commands", path])
        #expect(skipping.status == 1)
        #expect(skipping.errors.contains("2 errors") == false && skipping.errors.contains("1 error"))
    }

    @Test("a file that does not exist: exit 1, named")
    func missing() throws {
        let run = try Self.mpctl(["check", "/nonexistent/p.yaml"])
        #expect(run.status == 1)
        #expect(run.errors.hasPrefix("/nonexistent/p.yaml:1:1: error: cannot read the file"))
    }
}
