/// Reads length-prefixed frames (a 4-byte big-endian length, then that many bytes) from bytes
/// that arrive in chunks of any size, one byte at a time included.
///
/// A small state machine (as NIOExtras' `LengthFieldBasedFrameDecoder`): waiting for a header,
/// then for a body of known length. A header announcing more than ``maxFrameSize`` fails at
/// once, before any of the body is buffered; the stream is then unusable (its framing is lost)
/// and every later call throws the same error. The end of input in the middle of a frame is
/// ``finish()``'s error, distinct from a clean end at a frame boundary.
///
/// ```swift
/// var reader = FrameReader()
/// reader.append(chunk)
/// while let reading = try reader.next(Reading.self) { handle(reading) }
/// ```
public struct FrameReader: Sendable {
    private enum State: Sendable {
        case waitingForHeader
        case waitingForBody(length: Int)
        case failed(MessagePackError)
    }

    /// Frames declaring more bytes than this are refused.
    public let maxFrameSize: Int
    private var state = State.waitingForHeader
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Stream offset of `buffer[0]`, for error offsets.
    private var consumedBefore = 0

    public init(maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            consumedBefore += readIndex
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes from raw memory.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(bytes.bindMemory(to: UInt8.self))
    }

    /// Calls `body` with the next whole frame's body (valid only inside the call), or returns
    /// nil when no whole frame is buffered yet.
    public mutating func withNextFrame<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .waitingForHeader:
                guard buffer.count - readIndex >= 4 else { return nil }
                let length = buffer.withUnsafeBytes { Int(UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: readIndex, as: UInt32.self))) }
                guard length <= maxFrameSize else {
                    let error = MessagePackError(.frameTooLarge, at: consumedBefore + readIndex,
                                                 "frame declares \(length) bytes, above the maximum of \(maxFrameSize)")
                    state = .failed(error)
                    throw error
                }
                readIndex += 4
                state = .waitingForBody(length: length)
            case .waitingForBody(let length):
                guard buffer.count - readIndex >= length else { return nil }
                let start = readIndex
                readIndex += length
                state = .waitingForHeader
                return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + length])) }
            }
        }
    }

    /// The next whole frame's body, or nil when none is buffered yet.
    public mutating func nextFrame() throws -> [UInt8]? {
        try withNextFrame { Array($0) }
    }

    /// The next whole frame decoded as a `T`, or nil when none is buffered yet. A frame that
    /// does not decode is consumed and its error thrown; the frames after it stay readable.
    public mutating func next<T: Decodable>(_ type: T.Type, decoder: MessagePackDecoder = MessagePackDecoder()) throws -> T? {
        try withNextFrame { try decoder.decode(type, from: $0) }
    }

    /// Checks that the stream ended at a frame boundary: throws ``MessagePackError/Code/truncated``
    /// when it ended inside a header or a body.
    public func finish() throws {
        switch state {
        case .failed(let error): throw error
        case .waitingForHeader where buffer.count == readIndex: return
        case .waitingForHeader:
            throw MessagePackError(.truncated, at: consumedBefore + buffer.count,
                                   "stream ended inside a frame header (\(buffer.count - readIndex) of 4 bytes)")
        case .waitingForBody(let length):
            throw MessagePackError(.truncated, at: consumedBefore + buffer.count,
                                   "stream ended inside a frame body (\(buffer.count - readIndex) of \(length) bytes)")
        }
    }
}

/// Builds frames into one buffer so that several go out in a single write.
///
/// ```swift
/// var writer = FrameWriter()
/// try writer.append(Reading(id: 1, name: "a", value: 1))
/// try writer.append(Reading(id: 2, name: "b", value: 2))
/// let bytes = writer.take()   // two frames, one write
/// ```
public struct FrameWriter: ~Copyable {
    private let encoder: _MessagePackEncoder
    private var buffer: PackBuffer { encoder.buffer }
    /// Frames larger than this are refused at `append`, before anything is sent.
    public let maxFrameSize: Int

    public init(maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize, encoder: MessagePackEncoder = MessagePackEncoder()) {
        self.maxFrameSize = maxFrameSize
        self.encoder = _MessagePackEncoder(buffer: PackBuffer(capacity: 4096), options: encoder.options, userInfo: encoder.userInfo)
    }

    deinit {
        encoder.dropCache()   // the encoder's cached container points back at it
    }

    /// Bytes waiting to be taken.
    public var count: Int { buffer.count }

    /// Appends one frame holding `value`. On error (encoding, or a frame above the maximum)
    /// nothing is appended.
    public mutating func append<T: Encodable>(_ value: T) throws {
        let start = beginFrame()
        do { try encoder.append(value) } catch { buffer.truncate(to: start); throw error }
        try endFrame(start)
    }

    /// Appends one frame whose body is the values encoded back to back (an envelope, then a
    /// payload, as the protocol's frame body).
    public mutating func append<E: Encodable, P: Encodable>(_ first: E, _ second: P) throws {
        let start = beginFrame()
        do {
            try encoder.append(first)
            try encoder.append(second)
        } catch { buffer.truncate(to: start); throw error }
        try endFrame(start)
    }

    /// Appends one frame whose body is `first` encoded, then `rest` as it is: how a router
    /// forwards a payload it never decoded behind a new envelope.
    public mutating func append<E: Encodable>(_ first: E, followedBy rest: UnsafeRawBufferPointer) throws {
        let start = beginFrame()
        do { try encoder.append(first) } catch { buffer.truncate(to: start); throw error }
        buffer.writeRaw(rest)
        try endFrame(start)
    }

    /// Appends the head of one frame whose body is `first` encoded, then a `bin` value of
    /// `count` bytes, leaving out those bytes: the caller sends them right after this writer's
    /// bytes, from its own memory, so a large binary payload is never copied into the writer.
    /// The length prefix counts them. On error (encoding, or a frame above the maximum)
    /// nothing is appended.
    ///
    /// ```swift
    /// try writer.appendHead(envelope, binaryCount: blob.count)
    /// try writer.drain { try output.writeAll($0) }
    /// try blob.withUnsafeBytes { try output.writeAll($0) }   // the same frame, completed
    /// ```
    public mutating func appendHead<E: Encodable>(_ first: E, binaryCount count: Int) throws {
        precondition(count >= 0, "a negative binary count")
        let start = buffer.count
        guard count <= maxFrameSize else {   // checked before msgpack-c writes a header for it
            var error = MessagePackError(.frameTooLarge, at: start, "a binary value of \(count) bytes is above the maximum frame of \(maxFrameSize)")
            error.size = count
            throw error
        }
        _ = beginFrame()
        do { try encoder.append(first) } catch { buffer.truncate(to: start); throw error }
        buffer.packBinaryHeader(count: count)
        try endFrame(start, following: count)
    }

    /// Appends one frame whose body is `body`, as is.
    public mutating func append(body: UnsafeRawBufferPointer) throws {
        let start = beginFrame()
        buffer.writeRaw(body)
        try endFrame(start)
    }

    private func beginFrame() -> Int {
        let start = buffer.count
        var placeholder: UInt32 = 0
        withUnsafeBytes(of: &placeholder) { buffer.writeRaw($0) }
        return start
    }

    /// Patches the length prefix of the frame begun at `start`, counting `following` bytes the
    /// caller sends after this writer's bytes.
    private func endFrame(_ start: Int, following: Int = 0) throws {
        let length = buffer.count - start - 4 + following
        guard length <= maxFrameSize else {
            buffer.truncate(to: start)
            var error = MessagePackError(.frameTooLarge, at: start, "value encodes to \(length) bytes, above the maximum frame of \(maxFrameSize)")
            error.size = length
            throw error
        }
        buffer.setBigEndian(UInt32(length), at: start)
    }

    /// Calls `body` with every buffered byte (valid only inside the call), then empties the buffer.
    public mutating func drain<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        defer { buffer.reset() }
        return try body(UnsafeRawBufferPointer(buffer.bytes))
    }

    /// Every buffered byte, emptying the buffer.
    public mutating func take() -> [UInt8] { drain { Array($0) } }
}
