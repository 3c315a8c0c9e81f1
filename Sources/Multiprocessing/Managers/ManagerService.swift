import MessagePack
import NIOCore
import Synchronization

/// The manager a supervisor hosts, as a service over kinds 64...95 (Protocols/PROTOCOL.md,
/// "Manager"): its children's manager frames go to its ``ManagerObjects`` with a link per
/// child, the supervisor's own process calls in on the loop (``ParentManagerTransport``), and a
/// child that ends drops its references, waits and locks. Everything runs on the loop.
///
/// ```swift
/// let manager = ManagerService()
/// let supervisor = try SupervisorCore(SupervisorCore.Configuration(services: [manager]))
/// ```
// Unchecked: confined to the loop (the links and the objects are touched there only).
final class ManagerService: SupervisorService, @unchecked Sendable {
    let kinds: ClosedRange<UInt8> = ManagerWire.kinds
    var capabilities: [String] { [ManagerWire.capability] }
    private(set) var host: (any ServiceHost)?
    /// The objects, made when the supervisor starts.
    private(set) var objects: ManagerObjects?
    private var links: [UInt64: ChildLink] = [:]
    /// The loop once started, or what asked for the objects before: run at start.
    private let started = Mutex<(loop: (any EventLoop)?, early: [@Sendable (ManagerObjects) -> Void])>((nil, []))

    init() {}

    func start(host: any ServiceHost) {
        self.host = host
        let objects = ManagerObjects(loop: host.loop)
        self.objects = objects
        let early = started.withLock { state in
            state.loop = host.loop
            defer { state.early = [] }
            return state.early
        }
        for body in early { body(objects) }
    }

    /// Runs `body` with the objects on the loop (at start if the supervisor has not started).
    func withObjects(_ body: @escaping @Sendable (ManagerObjects) -> Void) {
        let loop = started.withLock { state -> (any EventLoop)? in
            if state.loop == nil { state.early.append(body) }
            return state.loop
        }
        loop?.execute { [self] in if let objects { body(objects) } }
    }

    func receive(_ frame: ServiceFrame, from peer: any ServicePeer) {
        guard let objects, let host else { return }
        let link = links[peer.id] ?? {
            let made = ChildLink(id: peer.id, name: peer.name, host: host)
            links[peer.id] = made
            return made
        }()
        do {
            let (envelope, payload) = try frame.split()
            payload.withUnsafeReadableBytes { raw in
                objects.receive(kind: frame.kind, correlation: envelope.correlation, payload: raw, from: link)
            }
        } catch {
            RuntimeLog.warning("[manager] a malformed frame from \(peer.name) was dropped: \(error)", metadata: ["client": "\(peer.name)"])
        }
    }

    func peerGone(_ peer: UInt64) {
        guard let link = links.removeValue(forKey: peer) else { return }
        link.host = nil
        objects?.clientGone(peer)
    }

    func stop() {
        objects?.stop()
        for link in links.values { link.host = nil }
        links = [:]
        host = nil
    }

    /// A child of the supervisor as a manager client: answers are frames to its channel.
    private final class ChildLink: ManagerLink {
        let id: UInt64
        let name: String
        weak var host: (any ServiceHost)?

        init(id: UInt64, name: String, host: any ServiceHost) {
            self.id = id
            self.name = name
            self.host = host
        }

        func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64) {
            guard let host else { return }
            let frame = ManagerWire.answer(result, correlation: correlation, client: id)
            host.write(ByteBuffer(bytes: frame), to: id)
            host.spinForAnswersSoon()
        }
    }
}
