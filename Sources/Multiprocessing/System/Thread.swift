#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A detached OS thread for blocking work (a child's channel reader, the supervisor's
/// reaper), so that blocking `read`/`poll` never sits on Swift's cooperative thread pool.
/// The corresponding C function is `pthread_create`.
enum OSThread {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `body` on a new detached thread (`name` is for messages; naming a thread needs
    /// `_GNU_SOURCE`).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw SystemError(Errno(rawValue: result), operation: "pthread_create", subject: nil)
        }
        pthread_detach(thread)
    }
}

extension OSThread {
    /// An identifier of the calling thread. The corresponding C function is `pthread_self`.
    static var current: pthread_t { pthread_self() }

    /// Whether `thread` is the calling thread. The corresponding C function is `pthread_equal`.
    static func isCurrent(_ thread: pthread_t) -> Bool { pthread_equal(thread, pthread_self()) != 0 }
}
