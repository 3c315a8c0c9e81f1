import MessagePack
import Synchronization

/// One process's client of one manager: requests with their answers awaited (a cancelled task
/// cancels a call the manager keeps waiting), references counted for the manager, arguments
/// and results encoded at the edge. Proxies hold it through their ``ManagedReference``.
final class ManagerClient: Sendable {
    let transport: any ManagerTransport
    private let encoder = MessagePackEncoder()

    init(transport: any ManagerTransport) { self.transport = transport }

    /// Sends a request and waits for its answer's payload. If the calling task is cancelled,
    /// the manager is told to answer the request now (a wait ends with ``ManagerError/Code/cancelled``).
    ///
    /// The caller looks for the answer for up to ``SpinPolicy/window`` before its task
    /// suspends: most answers come within that, and a task still running when its answer comes
    /// saves the wake-up of a thread of Swift's pool (about 25 us here). Adaptive (``SpinGate``).
    func request(_ kind: UInt8, _ payload: [UInt8]) async throws(ManagerError) -> [UInt8] {
        let transport = transport
        let correlation = transport.nextCorrelation()
        let slot = AnswerSlot()
        transport.request(kind, correlation: correlation, payload: payload) { slot.fill($0) }
        if let answer = slot.answer(spinning: transport.callerMaySpin ? spin : nil) { return try answer.get() }
        // Installed after the request left, so a cancel always finds it there.
        let result = await withTaskCancellationHandler {
            await slot.wait()
        } onCancel: {
            transport.oneWay(ManagerWire.cancel, correlation: correlation, payload: Self.nilPayload)
        }
        return try result.get()
    }

    /// Whether callers of this client look for their answers before they suspend.
    private let spin = SpinGate()

    private static let nilPayload: [UInt8] = [0xc0]

    /// Makes an object of `typeID` (or finds the one named `name`) and holds a reference to it.
    func create(_ typeID: String, name: String?, arguments: [[UInt8]]) async throws(ManagerError) -> ManagedReference {
        let answer = try await request(ManagerWire.create, ManagerWire.createPayload(typeID: typeID, name: name, arguments: arguments))
        let (object, madeType) = try ManagerWire.parseReference(answer)
        return ManagedReference(client: self, object: object, typeID: madeType)
    }

    /// The object named `name`, with a reference held to it.
    func lookup(_ name: String) async throws(ManagerError) -> ManagedReference {
        let answer = try await request(ManagerWire.lookup, ManagerWire.namePayload(name))
        let (object, typeID) = try ManagerWire.parseReference(answer)
        return ManagedReference(client: self, object: object, typeID: typeID)
    }

    /// Calls `method` of `object` with encoded arguments; the result's bytes.
    func call(_ object: UInt64, _ method: String, _ arguments: [[UInt8]]) async throws(ManagerError) -> [UInt8] {
        try await request(ManagerWire.call, ManagerWire.callPayload(object: object, method: method, arguments: arguments))
    }

    /// `value` encoded as an argument, or ``ManagerError/Code/wrongType`` saying what did not encode.
    func encode<T: Encodable>(_ value: T, _ what: @autoclosure () -> String) throws(ManagerError) -> [UInt8] {
        if let value = value as? MessagePackValue { return value.bytes }
        do {
            return try encoder.encode(value)
        } catch {
            throw ManagerError(.wrongType, "\(what()) (a \(T.self)) does not encode: \(error)")
        }
    }

    /// An answer's bytes decoded as `T`, or ``ManagerError/Code/wrongType`` naming `what` and both types.
    func decode<T: Decodable>(_ bytes: [UInt8], as type: T.Type, _ what: @autoclosure () -> String) throws(ManagerError) -> T {
        do {
            return try MessagePackDecoder().decode(type, from: bytes)
        } catch {
            let found = (try? MessagePackValue(unpacking: bytes))?.typeDescription ?? "not msgpack"
            throw ManagerError(.wrongType, "\(what()) is \(found), not \(String(describing: T.self)) (\(error))")
        }
    }

    func release(_ object: UInt64) { transport.oneWay(ManagerWire.release, correlation: 0, payload: ManagerWire.objectPayload(object)) }
    func transit(_ object: UInt64) { transport.oneWay(ManagerWire.transit, correlation: 0, payload: ManagerWire.objectPayload(object)) }
    func retain(_ object: UInt64, from: UInt64?) {
        transport.oneWay(ManagerWire.retain, correlation: 0, payload: ManagerWire.objectPayload(object, from: .some(from)))
    }
}

/// The manager clients of one runtime, by endpoint: its own supervisor's manager (nil) and the
/// managers it connected to by address. A decoded proxy finds its client here.
final class ManagerClients: Sendable {
    let local: ManagerClient
    /// How this process reaches a manager in its own process (``ManagerProcess``).
    let routed: RoutedManagerTransport.Way
    private let remote = Mutex<[String: ManagerClient]>([:])

    init(local: any ManagerTransport, routed: RoutedManagerTransport.Way) {
        self.local = ManagerClient(transport: local)
        self.routed = routed
    }

    /// The client for proxies of `endpoint`: ``ManagerError/Code/disconnected`` when this process
    /// is not connected to that manager. A manager in its own process (`worker:<id>`) is reached
    /// through the supervisor, connected on first use.
    func client(for endpoint: String?) throws(ManagerError) -> ManagerClient {
        guard let endpoint else { return local }
        if let server = RoutedManagerTransport.server(in: endpoint) {
            return remote.withLock { table in
                if let client = table[endpoint] { return client }
                let client = ManagerClient(transport: RoutedManagerTransport(server: server, way: routed))
                table[endpoint] = client
                return client
            }
        }
        guard let client = remote.withLock({ $0[endpoint] }) else {
            throw ManagerError(.disconnected, "a proxy of the manager at \(endpoint) was decoded in a process not connected to it (call Manager.connect(to:authkey:) here first)")
        }
        return client
    }

    /// Makes `client` the one for its transport's endpoint.
    func add(_ client: ManagerClient) {
        guard let endpoint = client.transport.endpoint else { return }
        remote.withLock { $0[endpoint] = client }
    }

    /// Forgets the client of `endpoint` (its connection closed).
    func remove(endpoint: String) { remote.withLock { $0[endpoint] = nil } }
}

/// One process's reference to an object in a manager: what every proxy holds. While it lives,
/// the manager keeps the object; its deinit releases it. Sent to another process (encoded in a
/// queue item or an argument), it stays valid: encoding tells the manager a reference is in
/// transit, and decoding takes that reference over.
///
/// It encodes as `{"object": id, "type": typeid, "from": client id, "endpoint": address or nil}`.
///
/// ```swift
/// let cache = try await manager.dictionary(String.self, Int.self)
/// try await jobs.put(cache)                 // a Queue<SharedDictionary<String, Int>>
/// ```
public final class ManagedReference: Sendable, Encodable, CustomStringConvertible {
    let client: ManagerClient
    /// The object's id in its manager.
    public let object: UInt64
    /// The object's type id (`dict`, `list`, `lock`, a custom type's).
    public let typeID: String

    init(client: ManagerClient, object: UInt64, typeID: String) {
        self.client = client
        self.object = object
        self.typeID = typeID
    }

    deinit { client.release(object) }

    enum CodingKeys: String, CodingKey {
        case object, type, from, endpoint
    }

    /// Writes the reference and tells the manager one is in transit.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(object, forKey: .object)
        try container.encode(typeID, forKey: .type)
        try container.encode(client.transport.clientID, forKey: .from)
        try container.encodeIfPresent(client.transport.endpoint, forKey: .endpoint)
        client.transit(object)
    }

    /// Reads a reference written by ``encode(to:)`` in any process, takes over its in-transit
    /// reference, with its client from `clients`. `expected`: the type id the proxy needs.
    convenience init(from decoder: any Decoder, clients: ManagerClients, expected: String?) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let object = try container.decode(UInt64.self, forKey: .object)
        let typeID = try container.decode(String.self, forKey: .type)
        if let expected, expected != typeID {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "managed object \(object) is a \(typeID); it cannot be read as a proxy of a \(expected)"))
        }
        let from = try container.decodeIfPresent(UInt64.self, forKey: .from)
        let client = try clients.client(for: try container.decodeIfPresent(String.self, forKey: .endpoint))
        self.init(client: client, object: object, typeID: typeID)
        client.retain(object, from: from)
    }

    public var description: String { "\(typeID) \(object)" }
}

/// One request's answer, filled by whichever thread receives it, taken by its caller: at
/// once, after a spin, or by a suspended task that it wakes.
private final class AnswerSlot: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Result<[UInt8], ManagerError>, Never>)
        case filled(Result<[UInt8], ManagerError>)
    }
    private let state = Mutex(State.empty)

    func fill(_ result: Result<[UInt8], ManagerError>) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<[UInt8], ManagerError>, Never>? in
            guard case .waiting(let waiter) = state else {
                state = .filled(result)
                return nil
            }
            state = .filled(result)
            return waiter
        }
        waiter?.resume(returning: result)
    }

    private var filled: Result<[UInt8], ManagerError>? {
        state.withLock { state in
            if case .filled(let result) = state { return result }
            return nil
        }
    }

    /// The answer if it is here, looking for it first for up to a spin window when `gate` says so.
    func answer(spinning gate: SpinGate?) -> Result<[UInt8], ManagerError>? {
        if let filled { return filled }
        guard let gate, gate.shouldSpin() else { return nil }
        let found = spinUntil(window: SpinPolicy.window) { filled != nil }
        gate.record(found: found)
        return filled
    }

    /// The answer, suspending until it comes.
    func wait() async -> Result<[UInt8], ManagerError> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<[UInt8], ManagerError>? in
                if case .filled(let result) = state { return result }
                state = .waiting(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
