import MessagePack
import NIOCore

/// A protocol the supervisor serves besides its own: queues today, a pool, a manager and
/// remote peers later. A service owns one range of envelope kinds (Protocols/PROTOCOL.md,
/// "Kind ranges"); the supervisor hands it every frame of those kinds, in place in the read
/// buffer, and tells it when a peer is gone. The channel handler and the supervisor core know
/// nothing else of it.
///
/// Everything is called on the host's event loop, so a service's state needs no lock (it is
/// confined to that loop, which is what makes a conforming class `Sendable`).
///
/// ```swift
/// /// Answers kind 64 ("get") with the value a key names: a manager, reduced to one call.
/// final class Registry: SupervisorService, @unchecked Sendable {   // confined to the loop
///     let kinds: ClosedRange<UInt8> = 64...95
///     private var host: (any ServiceHost)?
///     private var values: [String: MessagePackValue] = [:]
///
///     func start(host: any ServiceHost) { self.host = host }
///     func receive(_ frame: ServiceFrame, from peer: any ServicePeer) {
///         guard let host else { return }
///         do {
///             let (envelope, payload) = try frame.split()
///             let key = try frame.decode(String.self, payload: payload)
///             host.send(envelope.answer(.reply), values[key] ?? .nil, to: peer.id)
///         } catch {
///             host.send(Envelope(.error, from: Envelope.supervisor, to: peer.id), RemoteError(error), to: peer.id)
///         }
///     }
///     func peerGone(_ peer: UInt64) {}
///     func stop() { host = nil }
/// }
/// ```
protocol SupervisorService: AnyObject, Sendable {
    /// The kinds it serves: within 32...127, not shared with another service.
    var kinds: ClosedRange<UInt8> { get }
    /// Capabilities the supervisor announces in its welcome for this service (the agreed ones
    /// are what ``ServicePeer/speaks(_:)`` answers).
    var capabilities: [String] { get }
    /// Called once, on the loop, when the supervisor starts: the host is the service's way to
    /// its peers until ``stop()``.
    func start(host: any ServiceHost)
    /// One frame of a kind in ``kinds`` from `peer`. `frame.body` is a view of the read
    /// buffer: keep a slice of it (no copy), or copy out what must outlive a large buffer.
    func receive(_ frame: ServiceFrame, from peer: any ServicePeer)
    /// Runs once per loop turn after ``ServiceHost/scheduleFlush(_:)`` asked for it: the place
    /// to write what was collected for each peer during the turn in one write.
    func flush()
    /// `peer` ended: its channel was read to the end and its exit collected.
    func peerGone(_ peer: UInt64)
    /// The supervisor stops: drop the host and whatever waits.
    func stop()
}

extension SupervisorService {
    var capabilities: [String] { [] }
    func flush() {}
    func stop() {}
}

/// One frame for a service: its kind (the envelope's first element) and the whole body,
/// envelope and payload, as a view of the read buffer.
struct ServiceFrame {
    let kind: UInt8
    let body: ByteBuffer

    /// The five common envelope fields and the payload after them (a service whose envelope has
    /// more elements, as the queues' six, parses its own).
    func split() throws -> (envelope: Envelope, payload: ByteBuffer) {
        let (envelope, offset) = try body.withUnsafeReadableBytes { raw in
            let (envelope, payload) = try Envelope.split(raw)
            return (envelope, raw.count - payload.count)
        }
        return (envelope, body.getSlice(at: body.readerIndex + offset, length: body.readableBytes - offset)!)
    }

    /// Decodes a payload (from ``split()``), for instance as a `MessagePackValue` when the
    /// service must look inside one it does not know the type of.
    func decode<T: Decodable>(_ type: T.Type, payload: ByteBuffer, decoder: MessagePackDecoder = MessagePackDecoder()) throws -> T {
        try payload.withUnsafeReadableBytes { try decoder.decode(type, from: $0) }
    }
}

/// A peer of the supervisor as a service sees it: a child today, a remote peer later.
protocol ServicePeer: AnyObject, Sendable {
    /// Its id: the source of its frames, the destination of frames to it.
    var id: UInt64 { get }
    /// Its name, for messages.
    var name: String { get }
    /// Whether both sides agreed on `capability` in the handshake (on the loop).
    func speaks(_ capability: String) -> Bool
}

/// What the supervisor gives a service: its loop, its peers, and writing to them. Every call
/// is made on ``loop``.
protocol ServiceHost: AnyObject, Sendable {
    /// The loop every service call runs on.
    var loop: any EventLoop { get }
    /// The largest frame a peer accepts.
    var maxFrameSize: Int { get }
    /// What the supervisor reports through swift-metrics.
    var metrics: SupervisorMetrics { get }
    /// The live peer with `id`, if any.
    func peer(_ id: UInt64) -> (any ServicePeer)?
    /// Writes whole frames (length prefixes included) to `peer`; dropped if it is gone.
    func write(_ frames: ByteBuffer, to peer: UInt64)
    /// Calls `service.flush()` once this loop turn's work is done (call it once per turn:
    /// each call queues one flush).
    func scheduleFlush(_ service: any SupervisorService)
    /// After writing frames that will be answered soon: keeps the loop awake a moment for the
    /// answers (``AnswerSpinner``), saving the peer's answer a wake-up.
    func spinForAnswersSoon()
}

extension ServiceHost {
    /// Encodes and writes one frame to `peer` (a payload that does not encode is dropped).
    func send<P: Encodable>(_ envelope: Envelope, _ payload: P, to peer: UInt64) {
        var writer = FrameWriter(maxFrameSize: maxFrameSize)
        do { try writer.append(envelope, payload: payload) } catch { return }
        write(writer.drain { ByteBufferAllocator().buffer(bytes: $0) }, to: peer)
    }
}

/// The services of one supervisor, indexed by kind byte: a frame's service is one array read,
/// no hashing and no allocation on the hot path.
final class ServiceTable: Sendable {
    /// Kinds below this belong to the core.
    static let firstServiceKind: UInt8 = 32
    let all: [any SupervisorService]
    private let byKind: [(any SupervisorService)?]

    /// Throws ``ProcessError/Code/invalidArgument`` for a range outside 32...127 or shared by two services.
    init(_ services: [any SupervisorService]) throws(ProcessError) {
        var table = [(any SupervisorService)?](repeating: nil, count: 128)
        for service in services {
            let kinds = service.kinds
            guard kinds.lowerBound >= Self.firstServiceKind, kinds.upperBound <= 127 else {
                throw ProcessError(.invalidArgument, "a service's kinds \(kinds) are outside 32...127 (1...31 are the core's)")
            }
            for kind in kinds {
                guard table[Int(kind)] == nil else {
                    throw ProcessError(.invalidArgument, "kind \(kind) is claimed by two services (\(type(of: table[Int(kind)]!)) and \(type(of: service)))")
                }
                table[Int(kind)] = service
            }
        }
        all = services
        byKind = table
    }

    /// The service of a frame body starting with `first` (a fixarray header) and `kind`, if any.
    @inline(__always)
    func service(first: UInt8, kind: UInt8) -> (any SupervisorService)? {
        guard first & 0xf0 == 0x90, kind >= Self.firstServiceKind, kind < 128 else { return nil }
        return byKind[Int(kind)]
    }

    /// The capabilities the services announce.
    var capabilities: [String] { all.flatMap(\.capabilities) }
}
