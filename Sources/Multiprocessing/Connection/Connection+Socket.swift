extension Connection {
    /// An end over a connected stream socket (TCP or Unix), what ``Listener/accept(timeout:)``
    /// and ``Client(address:authkey:timeout:maxFrameSize:)`` return: the same frames, timeouts
    /// and errors as a pipe end.
    ///
    /// The end reads from `socket` and writes to a duplicate of it (the two-descriptor shape
    /// of a pipe end, each closed once); both are non-blocking, since the flag belongs to the
    /// socket they share, and a blocking receive waits in `poll`. It owns `socket` from now
    /// on: if this throws, `socket` is closed. Sets `SIGPIPE` to ignored, as
    /// ``pair(duplex:maxFrameSize:)`` does. The corresponding C function is `fcntl(F_DUPFD_CLOEXEC)`.
    static func adoptingSocket(_ socket: FileDescriptor, maxFrameSize: Int) throws(ConnectionError) -> Connection {
        ignoreBrokenPipeSignal()
        let writeEnd: FileDescriptor
        do {
            try socket.setNonBlocking(true)
            writeEnd = try socket.duplicate()
        } catch {
            _ = socket._close()
            throw ConnectionError.system(error, "setting up the socket connection")
        }
        return Connection(readEnd: socket, writeEnd: writeEnd, maxFrameSize: maxFrameSize, isSocket: true)
    }
}
