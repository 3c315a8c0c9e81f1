import MessagePack
import Synchronization

/// The frames a child queued to go out with its next write (queue frames: many small frames,
/// one syscall), and the hook that puts the queue clients' reports before them. Whoever writes
/// (``ChildSession``, under its write lock) writes these first, then its own bytes, in one
/// `write`.
final class PendingOutput: Sendable {
    /// Past this many queued bytes the frames are written at once.
    static let limit = 64 << 10
    /// The largest frame that may be queued.
    static let maxFrameSize = MessagePackLimits.defaultMaxFrameSize - 64

    private let writer = Mutex(FrameWriter(maxFrameSize: PendingOutput.maxFrameSize))
    /// A class box: a closure kept in a generic container is wrapped in a reabstraction thunk
    /// each time it is read back out, and those wrappers piled up (profiled: a queue's throughput
    /// fell 5x over a few seconds).
    private final class FlushHook: Sendable {
        let body: @Sendable () -> [UInt8]
        init(_ body: @escaping @Sendable () -> [UInt8]) { self.body = body }
    }
    private let flushHook = Mutex<FlushHook?>(nil)

    /// Called before pending output is written; returns more frames to write first (the queue
    /// clients' got/done reports). Never called with a client's lock held. Set once.
    var beforeFlush: (@Sendable () -> [UInt8])? {
        get { flushHook.withLock { $0 }?.body }
        set { flushHook.withLock { $0 = newValue.map(FlushHook.init) } }
    }

    /// Queues the frames `build` appends (encoding straight into the writer); a frame it fails
    /// to append is not queued. Returns whether the queued bytes reached ``limit``.
    func add(_ build: (inout FrameWriter) throws -> Void) throws -> Bool {
        try writer.withLock { writer in
            try build(&writer)
            return writer.count >= Self.limit
        }
    }

    /// Writes the queued frames, the reports, then `bytes` to `output`, in one write (the
    /// caller holds its write lock).
    func write(before bytes: UnsafeRawBufferPointer, to output: FileDescriptor) throws {
        let reports = beforeFlush?() ?? []
        if reports.isEmpty && bytes.count == 0 {
            // Only queued frames: written from the writer's own buffer, no copy.
            try writer.withLock { writer in
                if writer.count > 0 { try writer.drain { try output.writeAll($0) } }
            }
            return
        }
        var queued = writer.withLock { writer in writer.count == 0 ? [] : writer.take() }
        if queued.isEmpty && reports.isEmpty {
            if bytes.count > 0 { try output.writeAll(bytes) }
            return
        }
        queued.append(contentsOf: reports)
        queued.append(contentsOf: bytes)
        try queued.withUnsafeBytes { try output.writeAll($0) }
    }
}
