import Synchronization

/// A child's handlers of frames whose kind a service owns (32...127; PROTOCOL.md, "Kind
/// ranges"), by kind: the notices a service's client gets (a queue closed, a throttle) go to
/// its handler on the run loop's thread instead of the mailbox. Set before the entry runs.
final class ServiceNoticeTable: Sendable {
    private let handlers = Mutex<[(@Sendable (FrameBody) -> Void)?]>(Array(repeating: nil, count: 128))

    /// Frames of `kinds` go to `handler` from now on.
    func handle(kinds: ClosedRange<UInt8>, with handler: @escaping @Sendable (FrameBody) -> Void) {
        handlers.withLock { table in for kind in kinds where kind < 128 { table[Int(kind)] = handler } }
    }

    /// The handler of `kind`, if a service's client registered one.
    func handler(for kind: Envelope.Kind) -> (@Sendable (FrameBody) -> Void)? {
        guard kind.rawValue >= 32, kind.rawValue < 128 else { return nil }
        return handlers.withLock { $0[Int(kind.rawValue)] }
    }
}
