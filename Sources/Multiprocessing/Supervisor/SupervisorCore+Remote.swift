import NIOCore
import NIOPosix

extension SupervisorCore {
    /// Makes a remote worker of an authenticated, connected socket: a live child with an id of
    /// its own whose channel is the socket, read and written on this loop by the same
    /// ``ChildChannelHandler`` as a local child's pipes. Returns before its hello
    /// (``ChildRecord/handshake(timeout:)`` waits for that). NIO owns the socket from here on,
    /// also when this throws (``ProcessError/Code/spawnFailed``, the socket closed).
    func adoptRemote(socket: FileDescriptor, name: String) async throws -> ChildRecord {
        let record = ChildRecord(id: nextChildID(), pid: 0, process: nil, name: name, entry: nil, daemon: false, supervisor: self)
        try await loop.submit { [self] in enlist(record) }.get()
        do {
            _ = try await ClientBootstrap(group: loop)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.writeBufferWaterMark, value: .init(low: Self.writeWaterMarks.low, high: Self.writeWaterMarks.high))
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Before the first read: the hello is answered through this channel.
                        record.channel = channel
                        record.readDescriptor = socket
                        try channel.pipeline.syncOperations.addHandler(ChildChannelHandler(sink: record, services: services, maxFrameSize: maxFrameSize))
                    }
                }
                .withConnectedSocket(socket.rawValue)
                .get()
        } catch {
            try? await loop.submit { record.channelEnded() }.get()
            throw ProcessError(.spawnFailed, "\(name): its connection could not be served: \(error)")
        }
        return record
    }
}
