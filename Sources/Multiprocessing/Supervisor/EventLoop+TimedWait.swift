import NIOCore

extension EventLoop {
    /// A ``TimedWait`` timer kept by this loop (`scheduleTask`): the deadline fires on the
    /// loop, so what a timeout cleans up stays confined to it.
    var timedWaitTimer: TimedWait.Timer {
        { [self] deadline, fire in
            let delay = ContinuousClock.now.duration(to: deadline)
            let task = scheduleTask(in: .nanoseconds(max(0, delay.nanoseconds))) { fire() }
            return { task.cancel() }
        }
    }
}
