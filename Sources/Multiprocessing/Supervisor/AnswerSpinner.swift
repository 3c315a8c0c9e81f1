import NIOCore

/// Keeps the supervisor's loop awake for a moment after it wrote frames that will be answered:
/// looks at every child's channel for up to ``SpinPolicy/window`` before the loop goes back to
/// sleep in `epoll_wait`, so that an answer that comes within it finds the loop awake
/// (System/SpinPoll.swift: a wake-up from another CPU costs about 25 us here). Reads nothing:
/// NIO's next `epoll_wait` returns at once with what became readable. Adaptive as every spin
/// (``SpinPolicy``), so a quiet tree costs no CPU.
final class AnswerSpinner: @unchecked Sendable {   // its two vars are touched on `loop` only
    private let loop: any EventLoop
    /// The channels to look at.
    private let descriptors: @Sendable () -> [FileDescriptor]
    /// Whether the loop spins for answers.
    private var policy = SpinPolicy()
    /// Whether a spin is queued on the loop already.
    private var queued = false

    init(loop: any EventLoop, descriptors: @escaping @Sendable () -> [FileDescriptor]) {
        self.loop = loop
        self.descriptors = descriptors
    }

    /// On the loop, after it wrote frames that will be answered: queues one spin to run once
    /// this iteration's work is done.
    func spinSoon() {
        // The policy is asked here, not in the task: while it backs off, no task is queued.
        guard !queued, policy.shouldSpin() else { return }
        queued = true
        loop.execute { [self] in
            queued = false
            spin()
        }
    }

    private func spin() {
        let descriptors = descriptors()
        guard !descriptors.isEmpty else { return }
        policy.record(found: FileDescriptor.spinPoll(descriptors, for: .readable, window: SpinPolicy.window) != nil)
    }
}
