import NIOCore

/// Splits the bytes of a channel's reads into whole frames (a 4-byte big-endian length, then
/// the body), in place in the read buffer: the reassembly half of ``ChildChannelHandler``.
///
/// Only a frame that straddles reads is copied, into one accumulation buffer reserved from its
/// declared length (linear in the frame, however many reads it takes); every other frame is a
/// view of the read that brought it. A header above `maxFrameSize` stops the splitting for good
/// (framing is lost), as does a consumer that answers ``Step/stop``.
struct FrameSplitter {
    /// What the consumer of a frame says: go on with the next one, or stop splitting for good.
    enum Step { case next, stop }

    let maxFrameSize: Int
    /// Less than one frame: a view of the last read, or the accumulation buffer of a frame that
    /// straddles reads.
    private var pending: ByteBuffer?
    /// Set once a frame was too large or the consumer stopped: nothing more is split.
    private(set) var stopped = false

    init(maxFrameSize: Int) { self.maxFrameSize = maxFrameSize }

    /// Bytes of an incomplete frame kept from earlier reads (end of input now is inside a frame).
    var bufferedBytes: Int { pending?.readableBytes ?? 0 }

    /// Adds one read and hands every frame it completes to `frame`, in order, as a view that
    /// includes its length prefix. A header above the maximum is given to `oversized` (its
    /// declared length) and stops the splitting.
    mutating func append(_ read: ByteBuffer, frame: (inout ByteBuffer) -> Step, oversized: (Int) -> Void) {
        guard !stopped else { return }
        var incoming = read
        if var partial = pending {
            // `pending` is cleared first, so no write below copies its storage again. The frame
            // that straddles is completed from `incoming` and handed on, then the rest of
            // `incoming` is split where it lies.
            pending = nil
            partial.discardReadBytes()   // the leftover is less than one frame (a no-op once owned)
            if partial.readableBytes < 4 {
                var header = incoming.readSlice(length: min(4 - partial.readableBytes, incoming.readableBytes))!
                partial.writeBuffer(&header)
            }
            if partial.readableBytes >= 4 {
                let length = Int(partial.getInteger(at: partial.readerIndex, as: UInt32.self)!)
                let missing = length <= maxFrameSize ? max(0, 4 + length - partial.readableBytes) : 0
                if partial.writableBytes < missing {
                    partial.reserveCapacity(minimumWritableBytes: missing)
                    if missing >= MemoryAdvice.hugePageSize {
                        // Not yet written: faulted in 2 MiB at a time as the reads fill it.
                        partial.withUnsafeMutableWritableBytes { _ = MemoryAdvice._adviseHugePages($0.baseAddress!, byteCount: $0.count) }
                    }
                }
                var rest = incoming.readSlice(length: min(missing, incoming.readableBytes))!
                partial.writeBuffer(&rest)
            }
            pending = partial
            if incoming.readableBytes > 0 {
                split(frame: frame, oversized: oversized)   // the completed frame (or the end)
                guard !stopped else { return }
                if pending == nil { pending = incoming } else { pending!.writeBuffer(&incoming) }
            }
        } else {
            pending = incoming
        }
        split(frame: frame, oversized: oversized)
    }

    private mutating func split(frame: (inout ByteBuffer) -> Step, oversized: (Int) -> Void) {
        guard var buffer = pending else { return }
        defer {
            // The leftover (less than a frame) stays a view of the read buffer; it is moved to
            // the front only when the next read completes it.
            pending = buffer.readableBytes == 0 ? nil : buffer
        }
        while buffer.readableBytes >= 4 {
            let length = Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!)
            guard length <= maxFrameSize else {
                oversized(length)
                stopped = true
                buffer.clear()
                return
            }
            guard buffer.readableBytes >= 4 + length else { return }
            var whole = buffer.readSlice(length: 4 + length)!
            if frame(&whole) == .stop {
                stopped = true
                buffer.clear()
                return
            }
        }
    }
}
