/// The framed reads and writes of an authentication handshake, on a connected non-blocking
/// socket that no ``Connection`` owns yet: every frame is at most
/// ``AuthenticationLimits/maxFrameSize`` bytes, read exactly (never a byte of what follows the
/// handshake), and every wait ends at one deadline. Waits happen on the process's connection
/// poller, so a handshake never holds a thread.
///
/// It borrows `socket`: whoever made the stream closes the socket, whatever happens here.
struct HandshakeStream: Sendable {
    let socket: FileDescriptor
    let deadline: ContinuousClock.Instant
    /// The time limit the deadline came from, for messages.
    let limit: Duration
    /// The peer's address, for messages.
    let peer: String?

    /// Sends `body` as one frame (4-byte big-endian length, then the body).
    func send(_ body: [UInt8]) async throws(AuthenticationError) {
        precondition(body.count <= AuthenticationLimits.maxFrameSize, "handshake frames are small")
        let length = UInt32(body.count).bigEndian
        let frame = withUnsafeBytes(of: length) { Array($0) } + body
        var offset = 0
        while offset < frame.count {
            let result = frame.withUnsafeBytes { socket._write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch result {
            case .success(let written): offset += written
            case .failure(.wouldBlock): try await wait(for: .writable)
            case .failure(let errno) where errno == .brokenPipe || errno == .connectionReset:
                throw failure(.peerClosed, "the peer closed the connection in the middle of the handshake")
            case .failure(let errno): throw failure(.systemCallFailed, "write failed during the handshake: \(errno)")
            }
        }
    }

    /// The next frame's body. A header announcing more than
    /// ``AuthenticationLimits/maxFrameSize`` bytes (or Python's 64-bit length marker, -1) is
    /// refused before anything is allocated for it.
    func receive() async throws(AuthenticationError) -> [UInt8] {
        let header = try await read(exactly: 4)
        let length = Int32(bitPattern: UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
        guard length >= 0, length <= AuthenticationLimits.maxFrameSize else {
            let size = length == -1 ? "a 64-bit length" : "\(length) bytes"
            throw failure(.frameTooLarge, "a frame of \(size) before authentication, above the limit of \(AuthenticationLimits.maxFrameSize) bytes")
        }
        return try await read(exactly: Int(length))
    }

    /// Reads exactly `count` bytes, waiting as needed.
    private func read(exactly count: Int) async throws(AuthenticationError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let result = bytes.withUnsafeMutableBytes { socket._read(into: UnsafeMutableRawBufferPointer(rebasing: $0[offset...])) }
            switch result {
            case .success(0):
                throw failure(.peerClosed, "the peer closed the connection in the middle of the handshake (\(offset) of \(count) bytes of a frame read)")
            case .success(let read): offset += read
            case .failure(.wouldBlock): try await wait(for: .readable)
            case .failure(.connectionReset):
                throw failure(.peerClosed, "the peer reset the connection in the middle of the handshake")
            case .failure(let errno): throw failure(.systemCallFailed, "read failed during the handshake: \(errno)")
            }
        }
        return bytes
    }

    /// Waits on the connection poller until the socket has `events`, or throws at the deadline.
    private func wait(for events: PollEvents) async throws(AuthenticationError) {
        guard deadline > .now else { throw timedOut }
        let poller: DescriptorWatcher
        do { poller = try ConnectionPoller.shared() } catch {
            throw failure(.systemCallFailed, "the connection poller could not start: \(error)")
        }
        switch await poller.wait(for: socket, events, until: deadline) {
        case .ready: return
        case .timedOut: throw timedOut
        case .cancelled, .interrupted, .notOpen:
            throw failure(.cancelled, "the handshake was cancelled (its listener closed, or its task was cancelled)")
        }
    }

    private var timedOut: AuthenticationError {
        failure(.timedOut, "the handshake did not finish within \(limit)")
    }

    func failure(_ code: AuthenticationError.Code, _ message: String) -> AuthenticationError {
        AuthenticationError(code, message, peer: peer)
    }
}
