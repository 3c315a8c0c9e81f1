import MessagePack
import NIOCore

/// NIO's `ByteBuffer` as a ``MessagePackOutput``: the supervisor writes envelopes and queue
/// answers straight into a worker's outbound buffer (MessagePack does not depend on NIO).
extension ByteBuffer: MessagePackOutput {
    /// Writes one byte at the writer index.
    @inlinable
    public mutating func packRawByte(_ byte: UInt8) { writeInteger(byte) }

    /// Writes bytes as they are at the writer index.
    @inlinable
    public mutating func packRaw(_ bytes: UnsafeRawBufferPointer) { writeBytes(bytes) }

    /// Writes `value` big-endian at the writer index.
    @inlinable
    public mutating func packBigEndian<T: FixedWidthInteger>(_ value: T) { writeInteger(value) }
}
