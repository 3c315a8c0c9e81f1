import MessagePack
import Synchronization

/// Who monitors whom among a supervisor's children: a watcher gets a `down` message when its
/// target ends (at once if the target is already gone). Called on the supervisor's loop.
final class MonitorTable: Sendable {
    private let children: LiveChildren
    /// Watcher ids by target id.
    private let watchers = Mutex<[UInt64: Set<UInt64>]>([:])

    init(children: LiveChildren) { self.children = children }

    /// Registers `watcher` to get a `down` message when `target` ends; at once if it is gone.
    func monitor(_ target: UInt64, by watcher: ChildRecord) {
        guard let record = children.record(target), record.status == nil else {
            watcher.write(Envelope(.down, from: Envelope.supervisor, to: watcher.id), Down(id: target, status: .unknown))
            return
        }
        _ = watchers.withLock { $0[target, default: []].insert(watcher.id) }
    }

    /// Tells every watcher of `record` that it ended.
    func reportDown(_ record: ChildRecord, _ status: TerminationStatus) {
        let ids = watchers.withLock { $0.removeValue(forKey: record.id) } ?? []
        for id in ids {
            children.record(id)?.write(Envelope(.down, from: Envelope.supervisor, to: id), Down(id: record.id, status: status))
        }
    }
}
