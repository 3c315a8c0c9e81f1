import NIOCore

/// A child's record is what its channel handler hands frames to.
extension ChildRecord: ChildFrameSink {
    func worker(_ id: UInt64) -> ChildRecord? { supervisor.record(id) }

    var takesHeldKindsAtOnce: Bool { flow.acceptsAtOnce(channel) }

    func channelWritable() { releaseHeld() }

    func forwardedFrames() { supervisor.spinForAnswersSoon() }
}
