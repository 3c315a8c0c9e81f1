import MessagePack
import NIOCore

/// The supervisor's writing side of one child's channel: encoded frames, forwarded frames,
/// closing. Confined to the supervisor's event loop (as the ``ChildRecord`` that owns it); once
/// the channel ended, writes are dropped.
final class ChildWriter {
    let maxFrameSize: Int
    /// The channel, set by the spawn before the first read.
    var channel: (any Channel)?
    /// False once the channel was read to the end or failed.
    private(set) var isOpen = true

    init(maxFrameSize: Int) { self.maxFrameSize = maxFrameSize }

    /// The channel while it is open.
    var openChannel: (any Channel)? { isOpen ? channel : nil }

    /// The channel ended: nothing more is written.
    func ended() { isOpen = false }

    /// Encodes and writes one frame (one that does not encode is dropped).
    func write<P: Encodable>(_ envelope: Envelope, _ payload: P) {
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do { try writer.append(envelope, payload: payload) } catch { return }
        write(&writer)
    }

    /// Writes whole frames (length prefixes included), as they are.
    func forward(_ frames: ByteBuffer) {
        openChannel?.writeAndFlush(frames, promise: nil)
    }

    /// Writes the frames in `writer`, draining it.
    func write(_ writer: inout FrameWriter) {
        guard let channel = openChannel else { return }
        let buffer = writer.drain { channel.allocator.buffer(bytes: $0) }
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Closes only the writing side: the child's input ends while what it still sends is read.
    /// A channel that cannot half-close is closed whole.
    func closeOutput() {
        guard let channel else { return }
        channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
    }
}
