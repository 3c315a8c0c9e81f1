import Foundation
import MessagePack

/// Reads a pipeline's source and puts each item on its queue: lines of a file or of standard
/// input, lines of a command's standard output, or a range of integers. Lines are read on a
/// thread of its own (a pipe or a terminal blocks its reader), at most a few batches ahead of
/// the queue.
final class SourceReader: Sendable {
    let source: Source
    let directory: String
    private let command = LockedProcess()

    init(source: Source, directory: String) {
        self.source = source
        self.directory = directory
    }

    /// How many items it will read, when that is known beforehand (a file's lines, a range).
    func total() -> Int? {
        switch source.kind {
        case .range(let start, let stop, let step):
            guard step != 0 else { return 0 }
            let span = step > 0 ? stop - start : start - stop
            return span <= 0 ? 0 : (span + abs(step) - 1) / abs(step)
        case .lines(let path) where path != "-":
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { return nil }
            var lines = data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            if let last = data.last, last != 0x0A { lines += 1 }
            return lines
        default:
            return nil
        }
    }

    /// Puts every item on `queue`, numbering them from 0, calling `progress` with the count so
    /// far after each batch; stops early when the queue is aborted. Throws a description of
    /// what went wrong (a file that cannot be read, a command that failed).
    func run(into queue: ItemQueue, progress: @escaping @Sendable (Int) async -> Void) async throws {
        var sequence: UInt64 = 0
        switch source.kind {
        case .range(let start, let stop, let step):
            for value in stride(from: start, to: stop, by: step) {
                guard await queue.put(PipelineItem(sequence: sequence, values: [.int(Int64(value))])) else { return }
                sequence += 1
                if sequence % 16 == 0 { await progress(Int(sequence)) }
            }
        case .lines(let path):
            let handle: FileHandle
            if path == "-" {
                handle = FileHandle.standardInput
            } else {
                guard let opened = FileHandle(forReadingAtPath: path) else {
                    throw SourceError("cannot read the source file \(path)")
                }
                handle = opened
            }
            let (batches, took) = Self.lines(of: handle)
            for await batch in batches {
                took()
                for line in batch {
                    guard await queue.put(PipelineItem(sequence: sequence, values: [.string(line)])) else { return }
                    sequence += 1
                }
                await progress(Int(sequence))
            }
        case .command(let words):
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ProgramPath.resolve(words[0], in: directory, environment: [:]) ?? words[0])
            process.arguments = Array(words.dropFirst())
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            let pipe = Pipe()
            process.standardOutput = pipe
            do { try process.run() } catch { throw SourceError("cannot start the source command \(words.joined(separator: " ")): \(error.localizedDescription)") }
            command.set(process)
            let (batches, took) = Self.lines(of: pipe.fileHandleForReading)
            for await batch in batches {
                took()
                for line in batch {
                    guard await queue.put(PipelineItem(sequence: sequence, values: [.string(line)])) else {
                        command.stop()
                        return
                    }
                    sequence += 1
                }
                await progress(Int(sequence))
            }
            process.waitUntilExit()
            if process.terminationReason == .exit, process.terminationStatus != 0 {
                throw SourceError("the source command \(words.joined(separator: " ")) exited with code \(process.terminationStatus)")
            } else if process.terminationReason == .uncaughtSignal, !command.stopped {
                throw SourceError("the source command \(words.joined(separator: " ")) was killed by signal \(process.terminationStatus)")
            }
        }
        await progress(Int(sequence))
    }

    /// Stops a source command (an interrupt or a failure elsewhere).
    func stop() { command.stop() }

    /// The lines of `handle` in batches (without their newlines; a last line without one
    /// counts), read on a thread of its own, at most four batches ahead of the consumer, who
    /// calls `took()` after each batch.
    static func lines(of handle: FileHandle) -> (batches: AsyncStream<[String]>, took: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: [String].self)
        let credit = Credit()
        Thread.detachNewThread {
            var partial = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                partial.append(chunk)
                guard let lastNewline = partial.lastIndex(of: 0x0A) else { continue }
                let whole = partial[partial.startIndex..<lastNewline]
                let lines = whole.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                partial = Data(partial[(lastNewline + 1)...])
                credit.semaphore.wait()
                if case .terminated = continuation.yield(lines) { return }
            }
            if !partial.isEmpty { continuation.yield([String(decoding: partial, as: UTF8.self)]) }
            continuation.finish()
        }
        return (stream, { credit.semaphore.signal() })
    }
}

/// The batches the reader thread may read ahead.
private final class Credit: Sendable {
    let semaphore = DispatchSemaphore(value: 4)
}

/// The source command, stopped from another task.
private final class LockedProcess: @unchecked Sendable {
    private let lock = NSLock()
    private var process: Process?
    private(set) var stopped = false

    func set(_ process: Process) { lock.withLock { self.process = process } }

    func stop() {
        lock.withLock {
            stopped = true
            if let process, process.isRunning { process.terminate() }
        }
    }
}

/// What went wrong with the source.
struct SourceError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where a program named in a pipeline file is: a path with a slash from the folder, a bare
/// name on `PATH`.
enum ProgramPath {
    static func resolve(_ program: String, in folder: String, environment: [String: String]) -> String? {
        let manager = FileManager.default
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : (folder as NSString).appendingPathComponent(program)
            return manager.isExecutableFile(atPath: path) ? (path as NSString).standardizingPath : nil
        }
        let search = environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in search.split(separator: ":") where manager.isExecutableFile(atPath: "\(directory)/\(program)") {
            return "\(directory)/\(program)"
        }
        return nil
    }
}
