import Foundation
import MessagePack

/// Writes the items of a pipeline's last queue, one line each (``ItemText``): to a file
/// (created or truncated) or to standard output through mpctl's terminal. In input order when
/// asked (`mpctl exec`): groups wait for the ones before them.
final class SinkWriter: Sendable {
    private let write: @Sendable (String) -> Void
    private let close: @Sendable () -> Void
    let ordered: Bool

    /// Opens the sink; throws a description when its file cannot be created.
    init(_ sink: Sink, ordered: Bool, standardOutput: @escaping @Sendable (String) -> Void) throws {
        self.ordered = ordered
        switch sink.kind {
        case .standardOutput:
            write = standardOutput
            close = {}
        case .file(let path):
            // Its folder is made if need be (an example's out/ on a fresh clone).
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw SourceError("cannot create the sink file \(path)")
            }
            let file = BufferedFile(handle)
            write = { file.write($0) }
            close = { file.close() }
        }
    }

    /// Drains `queue`, calling `progress` with the count of items written so far.
    func run(from queue: ItemQueue, progress: @escaping @Sendable (Int) async -> Void) async {
        var written = 0
        var waiting: [UInt64: [MessagePackValue]] = [:]
        var next: UInt64 = 0
        while let item = await queue.get() {
            if ordered {
                waiting[item.sequence] = item.values
                while let values = waiting.removeValue(forKey: next) {
                    for value in values { write(ItemText.render(value)) }
                    written += values.count
                    next += 1
                }
            } else {
                for value in item.values { write(ItemText.render(value)) }
                written += item.values.count
            }
            if written % 64 == 0 || ordered { await progress(written) }
        }
        // Groups after a gap (an interrupted run) are written as they are, not lost.
        for key in waiting.keys.sorted() {
            for value in waiting[key]! { write(ItemText.render(value)) }
            written += waiting[key]!.count
        }
        close()
        await progress(written)
    }
}

/// A file written in 64 KiB blocks.
private final class BufferedFile: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    private var buffer = Data()

    init(_ handle: FileHandle) { self.handle = handle }

    func write(_ line: String) {
        lock.withLock {
            buffer.append(contentsOf: Array(line.utf8))
            buffer.append(0x0A)
            if buffer.count >= 65536 { flushLocked() }
        }
    }

    func close() {
        lock.withLock {
            flushLocked()
            try? handle.close()
        }
    }

    private func flushLocked() {
        guard !buffer.isEmpty else { return }
        try? handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}
