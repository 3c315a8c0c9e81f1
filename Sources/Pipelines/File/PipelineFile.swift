import Foundation
import Multiprocessing
import Yams

/// Reads a pipeline file (YAML) into a ``Pipeline``, checking everything that can be checked
/// before a process starts: syntax, unknown keys, wrong types, missing keys, commands that are
/// not found, queues that are undefined or unused, and stages that form a cycle. Every problem
/// is a ``PipelineDiagnostic`` with its line, column and key; all are reported at once.
///
/// ```swift
/// let pipeline = try PipelineFile.load(path: "Examples/LogPipeline/pipeline.yaml")
/// print(pipeline.stages.map(\.name))
/// ```
///
/// Paths in the file are relative to the file's folder; the loaded ``Pipeline`` holds them
/// absolute (a command's program when it has a slash, a stage's `workingDirectory`, the
/// source's `lines` file, the sink's `file`), so it runs the same from any directory.
/// docs/MPCTL.md describes every key.
public enum PipelineFile {
    /// Loads and checks the file at `path`.
    public static func load(path: String) throws(PipelineFileError) -> Pipeline {
        try loadChecked(path: path, checkCommands: true)
    }

    /// Loads the file at `path`; `checkCommands: false` skips looking the commands up.
    public static func loadChecked(path: String, checkCommands: Bool) throws(PipelineFileError) -> Pipeline {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PipelineFileError([PipelineDiagnostic(file: path, line: 1, column: 1, key: "",
                                                        message: "cannot read the file: \(error.localizedDescription)")])
        }
        let folder = (path as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? FileManager.default.currentDirectoryPath : absolute(folder, from: FileManager.default.currentDirectoryPath)
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return try parse(text, file: path, directory: directory, defaultName: name, checkCommands: checkCommands)
    }

    /// Parses and checks `text`, as read from `file` in `directory` (where its relative paths
    /// start). `checkCommands: false` skips looking the commands up (a file checked on another
    /// machine).
    public static func parse(_ text: String, file: String, directory: String, defaultName: String = "pipeline",
                             checkCommands: Bool = true) throws(PipelineFileError) -> Pipeline {
        var reader = PipelineFileReader(file: file, directory: directory, checkCommands: checkCommands)
        let pipeline = reader.read(text, defaultName: defaultName)
        if let pipeline, reader.diagnostics.isEmpty { return pipeline }
        throw PipelineFileError(reader.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }

    /// `path` made absolute from `directory` (unchanged when it already is).
    static func absolute(_ path: String, from directory: String) -> String {
        if path.hasPrefix("/") { return path }
        let joined = (directory as NSString).appendingPathComponent(path)
        return (joined as NSString).standardizingPath
    }
}

/// The reader behind ``PipelineFile``: walks the composed YAML nodes, collecting diagnostics
/// with each node's mark and key path.
struct PipelineFileReader {
    let file: String
    let directory: String
    let checkCommands: Bool
    private(set) var diagnostics: [PipelineDiagnostic] = []

    init(file: String, directory: String, checkCommands: Bool) {
        self.file = file
        self.directory = directory
        self.checkCommands = checkCommands
    }

    static let topKeys = ["name", "queues", "source", "stages", "sink"]
    static let stageKeys = ["name", "command", "entry", "count", "inFlight", "input", "output", "restart", "environment", "workingDirectory"]
    static let restartKeys = ["policy", "strategy", "intensity", "period"]
    static let sourceKeys = ["lines", "command", "range", "to"]
    static let sinkKeys = ["from", "file", "stdout"]
    static let rangeKeys = ["start", "stop", "step"]
    static let queueKeys = ["maxsize"]

    // MARK: the document

    mutating func read(_ text: String, defaultName: String) -> Pipeline? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            syntax(error)
            return nil
        } catch {
            report(line: 1, column: 1, key: "", "not YAML: \(error)")
            return nil
        }
        guard let root else {
            report(line: 1, column: 1, key: "", "the file is empty: a pipeline needs at least `stages`")
            return nil
        }
        guard let top = mapping(root, "") else { return nil }
        unknownKeys(top, allowed: Self.topKeys, path: "")

        let name = top.value("name").flatMap { string($0, "name") } ?? defaultName
        var queues: [(QueueDefinition, Node)] = []
        if let node = top.value("queues"), let entries = mapping(node, "queues") {
            for (keyNode, value) in entries.pairs {
                guard let queueName = string(keyNode, "queues") else { continue }
                let path = "queues.\(queueName)"
                if queues.contains(where: { $0.0.name == queueName }) { report(keyNode, path, "the queue is declared twice") }
                if let maxsize = queueSize(value, path) {
                    queues.append((QueueDefinition(name: queueName, maxsize: maxsize), keyNode))
                }
            }
        }
        let source = top.value("source").flatMap { readSource($0) }
        let sink = top.value("sink").flatMap { readSink($0) }
        var stages: [(Stage, StageNodes)] = []
        if let node = top.value("stages") {
            if let list = sequence(node, "stages") {
                if list.isEmpty { report(node, "stages", "a pipeline needs at least one stage") }
                for (index, item) in list.enumerated() {
                    if let stage = readStage(item, "stages[\(index)]") {
                        if stages.contains(where: { $0.0.name == stage.0.name }) {
                            report(stage.1.name, "stages[\(index)].name", "another stage is named \"\(stage.0.name)\"")
                        }
                        stages.append(stage)
                    }
                }
            }
        } else {
            report(root, "", "missing key `stages`: a pipeline needs at least one stage")
        }
        checkQueues(queues, source: source, sink: sink, stages: stages)
        checkCycles(stages)
        var pipeline = Pipeline(name: name, queues: queues.map(\.0), source: source?.0, stages: stages.map(\.0), sink: sink?.0)
        pipeline.directory = directory
        return pipeline
    }

    // MARK: parts

    /// A queue's value: `{maxsize: N}`, a bare number, or nothing (unbounded).
    private mutating func queueSize(_ node: Node, _ path: String) -> Int? {
        if case .scalar(let scalar) = node, scalar.kind == .null { return 0 }
        if case .scalar = node { return nonNegative(node, path) }
        guard let entries = mapping(node, path) else { return nil }
        unknownKeys(entries, allowed: Self.queueKeys, path: path)
        guard let size = entries.value("maxsize") else { return 0 }
        return nonNegative(size, path + ".maxsize")
    }

    private mutating func readSource(_ node: Node) -> (Source, Node)? {
        guard let entries = mapping(node, "source") else { return nil }
        unknownKeys(entries, allowed: Self.sourceKeys, path: "source")
        let queue = required(entries, "to", in: node, "source").flatMap { string($0, "source.to") }
        let kinds = ["lines", "command", "range"].filter { entries.value($0) != nil }
        guard kinds.count == 1 else {
            report(node, "source", kinds.isEmpty ? "a source needs one of `lines` (a file), `command` or `range`"
                                                  : "a source has one of `lines`, `command` or `range`, not \(kinds.map { "`\($0)`" }.joined(separator: " and "))")
            return nil
        }
        let kind: Source.Kind?
        switch kinds[0] {
        case "lines":
            kind = string(entries.value("lines")!, "source.lines").map { .lines(path: $0 == "-" ? "-" : PipelineFile.absolute($0, from: directory)) }
        case "command":
            let valueNode = entries.value("command")!
            kind = command(valueNode, "source.command").map { words in
                if checkCommands { lookUp(words[0], node: valueNode, path: "source.command", in: directory, environment: [:]) }
                return .command(words)
            }
        default:
            kind = range(entries.value("range")!, "source.range")
        }
        guard let kind, let queue else { return nil }
        return (Source(kind, to: queue), entries.value("to")!)
    }

    /// `{start, stop, step}`, `[start, stop(, step)]`, or a bare `stop` (from 0).
    private mutating func range(_ node: Node, _ path: String) -> Source.Kind? {
        var start = 0, stop: Int?, step = 1
        switch node {
        case .scalar:
            stop = integer(node, path)
        case .sequence(let list):
            guard (2...3).contains(list.count) else {
                report(node, path, "a range is [start, stop] or [start, stop, step], not \(list.count) numbers")
                return nil
            }
            start = integer(list[0], path + "[0]") ?? 0
            stop = integer(list[1], path + "[1]")
            if list.count == 3 { step = integer(list[2], path + "[2]") ?? 1 }
        default:
            guard let entries = mapping(node, path) else { return nil }
            unknownKeys(entries, allowed: Self.rangeKeys, path: path)
            start = entries.value("start").flatMap { integer($0, path + ".start") } ?? 0
            stop = required(entries, "stop", in: node, path).flatMap { integer($0, path + ".stop") }
            step = entries.value("step").flatMap { integer($0, path + ".step") } ?? 1
        }
        if step == 0 { report(node, path, "a range's step cannot be 0"); return nil }
        guard let stop else { return nil }
        return .range(start: start, stop: stop, step: step)
    }

    private mutating func readSink(_ node: Node) -> (Sink, Node)? {
        guard let entries = mapping(node, "sink") else { return nil }
        unknownKeys(entries, allowed: Self.sinkKeys, path: "sink")
        let queue = required(entries, "from", in: node, "sink").flatMap { string($0, "sink.from") }
        var kind = Sink.Kind.standardOutput
        if let fileNode = entries.value("file") {
            if entries.value("stdout").flatMap({ boolean($0, "sink.stdout") }) == true {
                report(node, "sink", "a sink writes to `file` or to `stdout`, not both")
            }
            if let path = string(fileNode, "sink.file") { kind = .file(path: PipelineFile.absolute(path, from: directory)) }
        } else if let stdout = entries.value("stdout"), boolean(stdout, "sink.stdout") == false {
            report(stdout, "sink.stdout", "a sink without `file` writes to standard output: `stdout: false` leaves it nowhere to write")
        }
        guard let queue else { return nil }
        return (Sink(kind, from: queue), entries.value("from")!)
    }

    /// Where a stage's keys are, for the checks across stages.
    struct StageNodes {
        var name: Node
        var input: Node?
        var output: Node?
    }

    private mutating func readStage(_ node: Node, _ path: String) -> (Stage, StageNodes)? {
        guard let entries = mapping(node, path) else { return nil }
        unknownKeys(entries, allowed: Self.stageKeys, path: path)
        let nameNode = required(entries, "name", in: node, path)
        let name = nameNode.flatMap { string($0, path + ".name") }
        if let name, let nameNode, name.isEmpty || name.contains(where: { !($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
            report(nameNode, path + ".name", "a stage's name is letters, digits, `-`, `_` and `.`: \"\(name)\" is not")
        }
        var environment: [String: String] = [:]
        if let envNode = entries.value("environment"), let envEntries = mapping(envNode, path + ".environment") {
            for (key, value) in envEntries.pairs {
                guard let variable = string(key, path + ".environment") else { continue }
                guard case .scalar(let scalar) = value, scalar.kind != .null else {
                    report(value, path + ".environment.\(variable)", "an environment variable's value is a string, a number or a boolean")
                    continue
                }
                environment[variable] = scalar.string
            }
        }
        var workingDirectory: String?
        if let dirNode = entries.value("workingDirectory"), let dir = string(dirNode, path + ".workingDirectory") {
            let resolved = PipelineFile.absolute(dir, from: directory)
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) || !isDirectory.boolValue {
                report(dirNode, path + ".workingDirectory", "no such folder: \(resolved)")
            }
            workingDirectory = resolved
        }
        var words: [String]?
        if let commandNode = required(entries, "command", in: node, path), var command = command(commandNode, path + ".command") {
            if command[0].contains("/") { command[0] = PipelineFile.absolute(command[0], from: workingDirectory ?? directory) }
            if checkCommands { lookUp(command[0], node: commandNode, path: path + ".command", in: workingDirectory ?? directory, environment: environment) }
            words = command
        }
        let entry = entries.value("entry").flatMap { string($0, path + ".entry") }
        var count = 1
        if let countNode = entries.value("count"), let value = integer(countNode, path + ".count") {
            if value < 1 { report(countNode, path + ".count", "a stage runs at least 1 worker, not \(value)") } else { count = value }
        }
        var inFlight = Stage.defaultInFlight
        if let inFlightNode = entries.value("inFlight"), let value = integer(inFlightNode, path + ".inFlight") {
            if value < 1 { report(inFlightNode, path + ".inFlight", "a worker is sent at least 1 item at a time, not \(value)") } else { inFlight = value }
        }
        let inputNode = required(entries, "input", in: node, path)
        let input = inputNode.flatMap { string($0, path + ".input") }
        let outputNode = entries.value("output")
        let output = outputNode.flatMap { string($0, path + ".output") }
        let restart = entries.value("restart").flatMap { readRestart($0, path + ".restart") } ?? StageRestart()
        guard let name, let nameNode, let words, let input else { return nil }
        let stage = Stage(name: name, command: words, entry: entry, count: count, inFlight: inFlight, input: input, output: output,
                          restart: restart, environment: environment, workingDirectory: workingDirectory)
        return (stage, StageNodes(name: nameNode, input: inputNode, output: outputNode))
    }

    /// `restart: permanent` (the policy alone) or `{policy, strategy, intensity, period}`.
    private mutating func readRestart(_ node: Node, _ path: String) -> StageRestart? {
        var restart = StageRestart()
        if case .scalar = node {
            restart.restart = policy(node, path) ?? restart.restart
            return restart
        }
        guard let entries = mapping(node, path) else { return nil }
        unknownKeys(entries, allowed: Self.restartKeys, path: path)
        if let value = entries.value("policy"), let policy = policy(value, path + ".policy") { restart.restart = policy }
        if let value = entries.value("strategy"), let name = string(value, path + ".strategy") {
            switch name.lowercased().replacingOccurrences(of: "_", with: "") {
            case "oneforone": restart.strategy = .oneForOne
            case "oneforall": restart.strategy = .oneForAll
            case "restforone": restart.strategy = .restForOne
            default: report(value, path + ".strategy", "unknown strategy \"\(name)\" (oneForOne, oneForAll or restForOne)")
            }
        }
        if let value = entries.value("intensity"), let intensity = nonNegative(value, path + ".intensity") { restart.intensity = intensity }
        if let value = entries.value("period") {
            if case .scalar(let scalar) = value, scalar.kind == .int || scalar.kind == .float, let seconds = value.float, seconds > 0 {
                restart.period = .milliseconds(Int64((seconds * 1000).rounded()))
            } else {
                report(value, path + ".period", "a period is a positive number of seconds, not \(describe(value))")
            }
        }
        return restart
    }

    private mutating func policy(_ node: Node, _ path: String) -> RestartPolicy? {
        guard let name = string(node, path) else { return nil }
        switch name {
        case "permanent": return .permanent
        case "transient": return .transient
        case "temporary": return .temporary
        default:
            report(node, path, "unknown restart policy \"\(name)\" (permanent, transient or temporary)")
            return nil
        }
    }

    /// A command: a list of strings, or one string split at spaces (no shell: quote nothing).
    private mutating func command(_ node: Node, _ path: String) -> [String]? {
        var words: [String] = []
        switch node {
        case .sequence(let list):
            for (index, item) in list.enumerated() {
                guard case .scalar(let scalar) = item, scalar.kind != .null else {
                    report(item, "\(path)[\(index)]", "a command's words are strings, not \(describe(item))")
                    return nil
                }
                words.append(scalar.string)
            }
        case .scalar(let scalar) where scalar.kind == .str:
            words = scalar.string.split(separator: " ").map(String.init)
        default:
            report(node, path, "a command is a string or a list of strings, not \(describe(node))")
            return nil
        }
        guard let program = words.first, !program.isEmpty else {
            report(node, path, "the command is empty")
            return nil
        }
        return words
    }

    /// Reports `program` when it is not an executable file: a path (with a slash) as is,
    /// otherwise looked up on the stage's or this process's `PATH`.
    private mutating func lookUp(_ program: String, node: Node, path: String, in folder: String, environment: [String: String]) {
        let manager = FileManager.default
        if program.contains("/") {
            let resolved = PipelineFile.absolute(program, from: folder)
            if !manager.isExecutableFile(atPath: resolved) {
                report(node, path, manager.fileExists(atPath: resolved) ? "\(resolved) is not executable" : "command not found: \(resolved)")
            }
            return
        }
        let search = environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let found = search.split(separator: ":").contains { manager.isExecutableFile(atPath: "\($0)/\(program)") }
        if !found { report(node, path, "command not found: \"\(program)\" is on no folder of PATH (\(search))") }
    }

    // MARK: across the file

    private mutating func checkQueues(_ queues: [(QueueDefinition, Node)], source: (Source, Node)?, sink: (Sink, Node)?,
                                      stages: [(Stage, StageNodes)]) {
        let declared = Set(queues.map(\.0.name))
        var readers: [String: Int] = [:], writers: [String: Int] = [:]
        func use(_ name: String, _ node: Node?, _ path: String, writing: Bool) {
            if writing { writers[name, default: 0] += 1 } else { readers[name, default: 0] += 1 }
            if !declared.contains(name), let node {
                report(node, path, "no queue is named \"\(name)\"" + suggestion(name, among: declared.sorted()) + " (declare it under `queues`)")
            }
        }
        if let (source, node) = source { use(source.queue, node, "source.to", writing: true) }
        if let (sink, node) = sink { use(sink.queue, node, "sink.from", writing: false) }
        for (index, (stage, nodes)) in stages.enumerated() {
            use(stage.input, nodes.input, "stages[\(index)].input", writing: false)
            if let output = stage.output { use(output, nodes.output, "stages[\(index)].output", writing: true) }
        }
        for (queue, node) in queues {
            let read = readers[queue.name, default: 0] > 0, written = writers[queue.name, default: 0] > 0
            if !read && !written {
                report(node, "queues.\(queue.name)", "the queue is never used")
            } else if !read {
                report(node, "queues.\(queue.name)", "nothing reads this queue (no stage has it as `input`, and the sink does not drain it)")
            } else if !written {
                report(node, "queues.\(queue.name)", "nothing puts items on this queue (no stage has it as `output`, and the source does not feed it)")
            }
        }
    }

    /// Stages connected through queues (a stage's output is another's input) must not loop:
    /// a cycle never drains, so the pipeline would never end.
    private mutating func checkCycles(_ stages: [(Stage, StageNodes)]) {
        let names = stages.map(\.0.name)
        var next: [Int: [Int]] = [:]
        for (from, (stage, _)) in stages.enumerated() {
            guard let output = stage.output else { continue }
            next[from] = stages.indices.filter { stages[$0].0.input == output }
        }
        var state = [Int](repeating: 0, count: stages.count)   // 0 new, 1 on the path, 2 done
        var path: [Int] = []
        var reported = Set<Set<Int>>()
        func visit(_ node: Int, _ reader: inout PipelineFileReader) {
            state[node] = 1
            path.append(node)
            for successor in next[node, default: []] {
                if state[successor] == 1, let start = path.firstIndex(of: successor) {
                    let cycle = Array(path[start...])
                    if reported.insert(Set(cycle)).inserted {
                        let first = cycle[0]
                        let described = (cycle + [first]).map { "\"\(names[$0])\"" }.joined(separator: " -> ")
                        let nodes = stages[cycle.last!].1
                        reader.report(nodes.output ?? nodes.name, "stages[\(cycle.last!)].output",
                                      "the stages form a cycle through their queues (\(described)): its items would never drain")
                    }
                } else if state[successor] == 0 {
                    visit(successor, &reader)
                }
            }
            path.removeLast()
            state[node] = 2
        }
        for index in stages.indices where state[index] == 0 { visit(index, &self) }
    }

    // MARK: typed values

    private mutating func mapping(_ node: Node, _ path: String) -> Node.Mapping? {
        if case .mapping(let mapping) = node { return mapping }
        report(node, path, "expected a mapping (`key: value` lines), found \(describe(node))")
        return nil
    }

    private mutating func sequence(_ node: Node, _ path: String) -> [Node]? {
        if case .sequence(let list) = node { return Array(list) }
        report(node, path, "expected a list (`- ` items), found \(describe(node))")
        return nil
    }

    private mutating func string(_ node: Node, _ path: String) -> String? {
        if case .scalar(let scalar) = node, scalar.kind == .str { return scalar.string }
        report(node, path, "expected a string, found \(describe(node))")
        return nil
    }

    private mutating func integer(_ node: Node, _ path: String) -> Int? {
        if case .scalar(let scalar) = node, scalar.kind == .int, let value = node.int { return value }
        report(node, path, "expected an integer, found \(describe(node))")
        return nil
    }

    private mutating func nonNegative(_ node: Node, _ path: String) -> Int? {
        guard let value = integer(node, path) else { return nil }
        if value < 0 { report(node, path, "expected 0 or more, found \(value)"); return nil }
        return value
    }

    private mutating func boolean(_ node: Node, _ path: String) -> Bool? {
        if case .scalar(let scalar) = node, scalar.kind == .bool, let value = node.bool { return value }
        report(node, path, "expected true or false, found \(describe(node))")
        return nil
    }

    private mutating func required(_ entries: Node.Mapping, _ key: String, in node: Node, _ path: String) -> Node? {
        if let value = entries.value(key) { return value }
        report(node, path, "missing key `\(key)`")
        return nil
    }

    private mutating func unknownKeys(_ entries: Node.Mapping, allowed: [String], path: String) {
        for key in entries.keys {
            guard case .scalar(let scalar) = key else {
                report(key, path, "a key is a plain word, not \(describe(key))")
                continue
            }
            if !allowed.contains(scalar.string) {
                let keyPath = path.isEmpty ? scalar.string : "\(path).\(scalar.string)"
                report(key, keyPath, "unknown key" + suggestion(scalar.string, among: allowed) + " (known here: \(allowed.joined(separator: ", ")))")
            }
        }
    }

    /// What a node is, for messages: `"two" (a string)`, `a list`, `a mapping`.
    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            switch scalar.kind {
            case .null: return "nothing (null)"
            case .int: return "the integer \(scalar.string)"
            case .float: return "the number \(scalar.string)"
            case .bool: return "the boolean \(scalar.string)"
            default: return "the string \"\(scalar.string)\""
            }
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// ` (did you mean "x"?)` for a near miss among `candidates`, or nothing.
    private func suggestion(_ word: String, among candidates: [String]) -> String {
        let best = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }.min { $0.1 < $1.1 }
        guard let (candidate, distance) = best, distance <= max(1, candidate.count / 3) else { return "" }
        return " (did you mean \"\(candidate)\"?)"
    }

    private func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let saved = row[j]
                row[j] = a[i - 1] == b[j - 1] ? previous : min(previous, row[j], row[j - 1]) + 1
                previous = saved
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }

    // MARK: reporting

    private mutating func syntax(_ error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            report(line: mark.line, column: mark.column, key: "", "YAML syntax: \(problem)" + (context.map { " \($0.text)" } ?? ""))
        case .duplicatedKeysInMapping(let duplicates, let context):
            report(line: context.mark.line, column: context.mark.column, key: "",
                   "a key appears twice in one mapping: \(duplicates.joined(separator: ", "))")
        case .reader(let problem, _, _, _):
            report(line: 1, column: 1, key: "", "not readable as YAML text: \(problem)")
        default:
            report(line: 1, column: 1, key: "", "YAML: \(error)")
        }
    }

    mutating func report(_ node: Node, _ key: String, _ message: String) {
        let mark = node.mark
        report(line: mark?.line ?? 1, column: mark?.column ?? 1, key: key, message)
    }

    mutating func report(line: Int, column: Int, key: String, _ message: String) {
        diagnostics.append(PipelineDiagnostic(file: file, line: line, column: column, key: key, message: message))
    }
}

extension Node.Mapping {
    /// The value of a plain string key.
    func value(_ key: String) -> Node? {
        for (candidate, value) in self {
            if case .scalar(let scalar) = candidate, scalar.string == key { return value }
        }
        return nil
    }

    /// The pairs in file order.
    var pairs: [(Node, Node)] { map { ($0.key, $0.value) } }
}

extension Node.Scalar {
    /// The scalar's resolved tag (`str`, `int`, `float`, `bool`, `null`): a quoted "5" is a string.
    var kind: Tag.Name {
        switch tag.rawValue {
        case Tag.Name.implicit.rawValue:
            return style == .plain ? Resolver.default.resolveTag(of: .scalar(self)) : .str
        case Tag.Name.nonSpecific.rawValue:
            return .str
        case let name:
            return Tag.Name(rawValue: name)
        }
    }
}
