import MessagePack
import NIOCore

/// The pools of one supervisor, as a service over kinds 48...63 (Protocols/PROTOCOL.md,
/// "Pool"): it hands each worker's results frames to the pool that owns the worker, and tells
/// that pool when one of its workers is gone. The scheduling itself is each pool's
/// (``PoolScheduler``). Everything runs on the supervisor's loop.
///
/// ```swift
/// let pools = PoolService()
/// let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [pools]))
/// ```
// Unchecked: confined to the loop (the tables are touched there only).
final class PoolService: SupervisorService, @unchecked Sendable {
    let kinds: ClosedRange<UInt8> = PoolWire.kinds
    var capabilities: [String] { [PoolWire.capability] }
    private(set) var host: (any ServiceHost)?
    /// The pool of each worker, by worker id.
    private var owners: [UInt64: PoolScheduler] = [:]
    /// Every live pool (a pool that ends removes itself).
    private var pools: [ObjectIdentifier: PoolScheduler] = [:]
    /// Peers that ended before a pool adopted them (a worker can die between its handshake
    /// and its adoption): the adoption then fails. Bounded: only the last few are kept.
    private var goneBeforeAdoption: [UInt64] = []

    init() {}

    func start(host: any ServiceHost) { self.host = host }

    /// `pool` runs on this service from now on (on the loop).
    func add(_ pool: PoolScheduler) { pools[ObjectIdentifier(pool)] = pool }

    /// `pool` ended (on the loop).
    func remove(_ pool: PoolScheduler) { pools[ObjectIdentifier(pool)] = nil }

    /// Worker `id` belongs to `pool`; false when it ended already.
    func adopt(_ id: UInt64, by pool: PoolScheduler) -> Bool {
        if let index = goneBeforeAdoption.firstIndex(of: id) {
            goneBeforeAdoption.remove(at: index)
            return false
        }
        owners[id] = pool
        return true
    }

    func receive(_ frame: ServiceFrame, from peer: any ServicePeer) {
        do {
            let (envelope, payload) = try frame.split()
            guard envelope.kind == PoolWire.results else {
                RuntimeLog.warning("[pool] \(peer.name) sent a \(envelope.kind) frame, which only a supervisor sends: dropped",
                                   metadata: ["worker": "\(peer.name)"])
                return
            }
            guard let pool = owners[peer.id] else {
                RuntimeLog.warning("[pool] \(peer.name) sent pool results but is no pool's worker: dropped", metadata: ["worker": "\(peer.name)"])
                return
            }
            pool.received(try PoolWire.parseResults(payload), task: envelope.correlation, from: peer.id)
        } catch {
            RuntimeLog.warning("[pool] a malformed pool frame from \(peer.name) was dropped: \(error)", metadata: ["worker": "\(peer.name)"])
        }
    }

    func peerGone(_ peer: UInt64) {
        if let pool = owners.removeValue(forKey: peer) {
            pool.workerGone(peer)
        } else {
            goneBeforeAdoption.append(peer)
            if goneBeforeAdoption.count > 256 { goneBeforeAdoption.removeFirst(128) }
        }
    }

    func stop() {
        for pool in pools.values { pool.terminate() }
        host = nil
    }
}
