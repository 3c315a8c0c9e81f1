import Synchronization

/// Where the async forms of ``Connection`` (and `ParentProcess.join`) wait, so that no wait
/// ever blocks Swift's cooperative thread pool: one ``DescriptorWatcher`` ("mp-connections"),
/// started by the first async wait that has to wait.
///
/// It is the one watcher held by the process rather than by a runtime: a `Connection` is
/// made by user code (`Connection.pair()`, a passed connection in a child) that has no
/// runtime at hand, and is usable before and without `bootstrap`.
enum ConnectionPoller {
    private static let instance = Mutex<DescriptorWatcher?>(nil)

    /// The process's connection watcher, started on first use.
    static func shared() throws(ConnectionError) -> DescriptorWatcher {
        try instance.withLock { (instance) throws(ConnectionError) -> DescriptorWatcher in
            if let instance { return instance }
            do throws(SystemError) {
                let watcher = try DescriptorWatcher(name: "mp-connections")
                instance = watcher
                return watcher
            } catch {
                throw ConnectionError.system(error, "starting the connection watcher thread")
            }
        }
    }

    /// The watcher if some async wait started it (nobody waits in it otherwise).
    static var running: DescriptorWatcher? { instance.withLock { $0 } }
}
