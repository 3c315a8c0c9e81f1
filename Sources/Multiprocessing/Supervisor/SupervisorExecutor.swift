import NIOCore

/// The supervisor's event-loop thread as a `TaskExecutor`: a task that prefers it runs its
/// code on the loop, so a request it makes is written without a hop to the loop, and the
/// reply resumes it on the loop in the same iteration that read it, without waking another
/// thread. That takes both thread hops out of a routed round trip from the parent's code.
///
/// Code run there holds up the routing of every child while it runs: keep it to short
/// request/reply loops, never blocking calls (the blocking `Connection` forms, `sleep`,
/// long computations).
final class SupervisorExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
}
