import ArgumentParser
import Foundation
import Pipelines

extension MPCtl {
    /// `mpctl check FILE`: what `mpctl run` would refuse, before anything starts.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Checks a pipeline file without running it.",
            discussion: """
                Prints each problem as FILE:LINE:COLUMN: error: KEY: MESSAGE (syntax errors, \
                unknown keys, wrong types, missing keys, commands not found, undefined or unused \
                queues, stages that form a cycle) and exits 1; prints a one-line summary and \
                exits 0 when there is none.
                """
        )

        @Argument(help: "The pipeline file (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var file: String

        @Flag(name: .customLong("no-commands"), help: "Do not look the stages' commands up (a file for another machine).")
        var skipCommands = false

        func run() throws {
            do {
                let pipeline = try PipelineFile.loadChecked(path: file, checkCommands: !skipCommands)
                let workers = pipeline.stages.reduce(0) { $0 + $1.count }
                print("\(file): ok: pipeline \"\(pipeline.name)\", \(pipeline.stages.count) stage\(pipeline.stages.count == 1 ? "" : "s") (\(workers) worker\(workers == 1 ? "" : "s")), \(pipeline.queues.count) queue\(pipeline.queues.count == 1 ? "" : "s")")
            } catch {
                for diagnostic in error.diagnostics { printError(diagnostic.description) }
                printError("\(file): \(error.diagnostics.count) error\(error.diagnostics.count == 1 ? "" : "s")")
                throw ExitCode(1)
            }
        }
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    var standardError = StandardError()
    print(line, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
