import MessagePack

// The two halves of a ``Connection`` end. Each is touched only by the one caller that holds
// its direction (``Connection/enter(_:)``), hence `@unchecked Sendable`.

/// The receiving half: bytes read so far, cut into frames by a ``FrameReader``.
// Unchecked: confined to the one caller holding the receive direction (`Connection.enter`).
final class Receiver: @unchecked Sendable {
    @exclusivity(unchecked) private var reader: FrameReader
    private let decoder = MessagePackDecoder()
    /// Where `read` puts bytes; allocated by the first read.
    @exclusivity(unchecked) private var chunk: UnsafeMutableRawBufferPointer?
    /// A whole frame taken out of the reader by ``hasFrameOrEnded``, for the next receive.
    @exclusivity(unchecked) private var peeked: [UInt8]?
    /// How the stream ended (end of file, or framing lost): every later receive throws it.
    @exclusivity(unchecked) private var ending: ConnectionError?

    static let chunkSize = 64 << 10

    /// Whether a blocking receive looks for its frame a little before it sleeps.
    @exclusivity(unchecked) private var spin = SpinPolicy()

    /// Before a blocking read: looks for bytes for up to ``SpinPolicy/window`` (when the
    /// policy says so), so that a reply that comes within it finds this thread awake.
    func spinBeforeBlocking(on descriptor: FileDescriptor) {
        guard spin.shouldSpin() else { return }
        spin.record(found: FileDescriptor.spinPoll([descriptor], for: .readable, window: SpinPolicy.window) != nil)
    }

    init(maxFrameSize: Int) { reader = FrameReader(maxFrameSize: maxFrameSize) }

    deinit { chunk?.deallocate() }

    /// Calls `body` with the next whole frame's body, consuming the frame; false when no whole
    /// frame is buffered. Throws how the stream ended once every frame before that was taken.
    /// (Not generic: the hot path of a receive instantiates no generic metadata.)
    func nextFrame(_ body: (UnsafeRawBufferPointer) throws(ConnectionError) -> Void) throws(ConnectionError) -> Bool {
        var bodyError: ConnectionError?
        if let frame = peeked {
            peeked = nil
            frame.withUnsafeBytes { bytes in
                do throws(ConnectionError) { try body(bytes) } catch { bodyError = error }
            }
            if let bodyError { throw bodyError }
            return true
        }
        let found: Bool
        do {
            // Frames that arrived before the end are delivered first.
            let frame: Void? = try reader.withNextFrame { (bytes) -> Void in
                do throws(ConnectionError) { try body(bytes) } catch { bodyError = error }
            }
            found = frame != nil
        } catch {
            let lost = Self.connectionError(error)
            ending = lost
            throw lost
        }
        if let bodyError { throw bodyError }
        if found { return true }
        if let ending { throw ending }
        return false
    }

    /// Whether a receive would return without reading: a whole frame is buffered (it is then
    /// kept aside for that receive) or the stream has ended.
    var hasFrameOrEnded: Bool {
        if peeked != nil || ending != nil { return true }
        do {
            peeked = try reader.nextFrame()
            return peeked != nil
        } catch {
            ending = Self.connectionError(error)
            return true
        }
    }

    /// One `read` from `descriptor` into the buffer: blocks until some bytes or end of file
    /// arrive. At end of file it records how the stream ended, for ``nextFrame(_:)`` to throw.
    func fill(from descriptor: FileDescriptor) throws(ConnectionError) {
        let chunk = self.chunk ?? UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        self.chunk = chunk
        var count = 0
        while true {
            switch descriptor._read(into: chunk) {
            case .success(let read): count = read
            case .failure(.wouldBlock):
                // A socket end is non-blocking (its duplicate, the write end, shares the flag):
                // wait here as a pipe's blocking read would.
                if case .failure(let errno) = FileDescriptor._poll([descriptor], for: .readable, timeout: nil) {
                    throw ConnectionError.system(SystemError(errno, operation: "poll", subject: descriptor.subject), "reading")
                }
                continue
            case .failure(let errno): throw ConnectionError.system(SystemError(errno, operation: "read", subject: descriptor.subject), "reading")
            }
            break
        }
        if count > 0 {
            reader.append(UnsafeRawBufferPointer(rebasing: chunk[..<count]))
            return
        }
        if ending != nil { return }
        do {
            try reader.finish()
            ending = ConnectionError(.peerClosed, "the peer closed its end (end of stream at a frame boundary)")
        } catch {
            ending = Self.connectionError(error)
        }
    }

    /// Decodes one frame's body as `type`.
    func decode<T: Decodable>(_ type: T.Type, from body: UnsafeRawBufferPointer) throws(ConnectionError) -> T {
        do {
            return try decoder.decode(type, from: body)
        } catch {
            throw ConnectionError(.decodingFailed, "a frame of \(body.count) bytes does not decode as \(T.self)", underlyingError: error)
        }
    }

    private static func connectionError(_ error: any Error) -> ConnectionError {
        guard let error = error as? MessagePackError else {
            return ConnectionError(.systemCallFailed, "reading frames failed", underlyingError: error)
        }
        switch error.code {
        case .frameTooLarge:
            return ConnectionError(.frameTooLarge, "the peer sent a frame above the maximum; the stream's framing is lost", underlyingError: error)
        case .truncated:
            return ConnectionError(.truncatedFrame, "the stream ended inside a frame: the peer closed or died in the middle of a message", underlyingError: error)
        default:
            return ConnectionError(.systemCallFailed, "reading frames failed", underlyingError: error)
        }
    }
}

/// The sending half: frames are built in a ``FrameWriter`` and leave in one `write`.
// Unchecked: confined to the one caller holding the send direction (`Connection.enter`).
final class Sender: @unchecked Sendable {
    @exclusivity(unchecked) private var writer: FrameWriter

    init(maxFrameSize: Int) { writer = FrameWriter(maxFrameSize: maxFrameSize) }

    /// Appends `value` as one frame; nothing is appended on error.
    func frame<T: Encodable>(_ value: T) throws(ConnectionError) {
        do {
            try writer.append(value)
        } catch let error as MessagePackError where error.code == .frameTooLarge {
            throw ConnectionError(.frameTooLarge, "a \(T.self) is too large to send", underlyingError: error)
        } catch {
            throw ConnectionError(.encodingFailed, "a \(T.self) could not be encoded", underlyingError: error)
        }
    }

    /// Appends one frame whose body is `bytes`; nothing is appended on error.
    func frame<Bytes: Collection<UInt8>>(bytes: Bytes) throws(ConnectionError) {
        let result: Result<Void, any Error>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { try writer.append(body: UnsafeRawBufferPointer(buffer)) }
        }
        do {
            try (result ?? Array(bytes).withUnsafeBytes { raw in Result { try writer.append(body: raw) } }).get()
        } catch {
            throw ConnectionError(.frameTooLarge, "\(bytes.count) bytes are too many to send", underlyingError: error)
        }
    }

    /// Writes every buffered frame, waiting in `poll` while the pipe is full; empties the
    /// buffer whatever happens.
    func flush(to descriptor: FileDescriptor) throws(ConnectionError) {
        // The closure returns Void (a trivial type for the unspecialized `drain`); the error,
        // if any, comes out through `failure`.
        var failure: ConnectionError?
        writer.drain { bytes in
            var offset = 0
            while offset < bytes.count {
                switch Self.writeSome(UnsafeRawBufferPointer(rebasing: bytes[offset...]), to: descriptor) {
                case .failure(let error):
                    failure = error
                    return
                case .success(let written): offset += written
                }
                if offset < bytes.count, case .failure(let error) = FileDescriptor._poll([descriptor], for: .writable, timeout: nil) {
                    failure = ConnectionError.system(SystemError(error, operation: "poll", subject: descriptor.subject), "waiting to send")
                    return
                }
            }
        }
        if let failure { throw failure }
    }

    /// Bytes of a frame that the pipe did not take at once.
    struct Pending {
        var bytes: [UInt8]
        /// Whether some of the frame went already (it must then be finished).
        var started: Bool
    }

    /// Writes what the pipe takes now of the buffered frames and empties the buffer; returns
    /// what is left to write (nil when every byte went).
    func flushWithoutWaiting(to descriptor: FileDescriptor) throws(ConnectionError) -> Pending? {
        let result: Result<Pending?, ConnectionError> = writer.drain { bytes in
            Self.writeSome(bytes, to: descriptor).map { written in
                written == bytes.count ? nil : Pending(bytes: Array(bytes[written...]), started: written > 0)
            }
        }
        return try result.get()
    }

    /// Writes as much of `bytes` as the (non-blocking) descriptor takes now; returns how many.
    static func writeSome(_ bytes: UnsafeRawBufferPointer, to descriptor: FileDescriptor) -> Result<Int, ConnectionError> {
        var offset = 0
        while offset < bytes.count {
            switch descriptor._write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            case .success(let written): offset += written
            case .failure(.wouldBlock): return .success(offset)
            case .failure(let errno):
                return .failure(ConnectionError.system(SystemError(errno, operation: "write", subject: descriptor.subject), "sending"))
            }
        }
        return .success(offset)
    }
}
