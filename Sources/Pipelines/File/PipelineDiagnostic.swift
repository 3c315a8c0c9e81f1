/// One thing wrong with a pipeline file, where it is: the line and column (from 1) of the
/// value at fault and its key path (`stages[1].count`), as `mpctl check` prints it.
///
/// ```swift
/// do { _ = try PipelineFile.load(path: "logs.yaml") }
/// catch { for problem in error.diagnostics { print(problem) } }   // logs.yaml:7:12: stages[0].count: ...
/// ```
public struct PipelineDiagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file (as given to the loader).
    public var file: String
    public var line: Int
    public var column: Int
    /// The key path of the value at fault (`stages[1].restart.intensity`); empty for the file.
    public var key: String
    public var message: String

    public init(file: String, line: Int, column: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    /// `file:line:column: key: message`, the form compilers use, so editors jump to it.
    public var description: String {
        "\(file):\(line):\(column): error: " + (key.isEmpty ? "" : "\(key): ") + message
    }
}

/// Why a pipeline file was not loaded: every problem found, in file order (a loader reports all
/// of them at once, not only the first).
public struct PipelineFileError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [PipelineDiagnostic]

    public init(_ diagnostics: [PipelineDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
