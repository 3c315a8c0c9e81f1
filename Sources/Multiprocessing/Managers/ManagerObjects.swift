import MessagePack
import NIOCore
import Synchronization

/// How a manager answers one client: a child of the supervisor, the supervisor's own process,
/// or a socket connection. Called on the manager's loop.
protocol ManagerLink: AnyObject {
    /// The client's id: its peer id (0 for the manager's own process).
    var id: UInt64 { get }
    /// The client's name, for messages.
    var name: String { get }
    /// Sends the answer of the client's request `correlation`: the result's msgpack bytes, or the error.
    func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64)
}

/// A manager's objects and the protocol that reaches them, with no transport: the table of
/// objects by id (ids from 1, never reused), the names, each client's references, the types it
/// can make and the functions it can run. A ``ManagerService`` serves it to the supervisor's
/// children and its own process; a socket server serves it to remote clients. Confined to
/// `loop`.
///
/// An object lives while a client holds a reference to it (a proxy, or a proxy encoded and
/// not yet decoded: "in transit"), or while it has a name; a client that ends drops its
/// references, its waiting calls and, through ``ManagedObject/clientGone(_:)``, what it held.
// Unchecked: confined to `loop` (every method is called there), as the services are.
final class ManagerObjects: @unchecked Sendable {
    /// Makes an object of one type from a create request's arguments (read through the call).
    typealias Factory = @Sendable (ManagerCall) throws(ManagerError) -> any ManagedObject

    let loop: any EventLoop
    private var factories: [String: Factory] = [:]
    private var functions: [String: ManagerFunctionBody] = [:]
    private var objects: [UInt64: Entry] = [:]
    private var names: [String: UInt64] = [:]
    private var nextID: UInt64 = 1
    /// The objects each client holds a reference to (held or in transit).
    private var holdings: [UInt64: Set<UInt64>] = [:]
    /// Calls that wait, by client and correlation (a cancel or the client's end finds them).
    private var waiting: [UInt64: [UInt64: ManagerCall]] = [:]
    private var stopped = false
    /// Ids for socket clients (a remote manager's): from 2^48 up, never a child's peer id
    /// (those count from 1), never reused by this manager. Atomic: taken off the loop.
    private let socketClientIDs = Atomic<UInt64>(1 << 48)

    private final class Entry {
        let object: any ManagedObject
        let typeID: String
        let name: String?
        var held: [UInt64: Int] = [:]
        var inTransit: [UInt64: Int] = [:]
        init(object: any ManagedObject, typeID: String, name: String?) {
            self.object = object
            self.typeID = typeID
            self.name = name
        }
        var isReferenced: Bool { name != nil || !held.isEmpty || !inTransit.isEmpty }
    }

    /// A manager on `loop` that can make the built-in types (or, without `builtIn`, only the
    /// types registered later: a manager in its own process hosts only those).
    init(loop: any EventLoop, builtIn: Bool = true) {
        self.loop = loop
        if builtIn {
            for (typeID, factory) in ManagerTypes.builtIn { factories[typeID] = factory }
        }
    }

    /// A client id for a socket connection, unique in this manager.
    func nextSocketClientID() -> UInt64 { socketClientIDs.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// How many objects live (for tests and leaks).
    var objectCount: Int { objects.count }

    /// The object `id` names, with its type id (a condition made over a lock finds the lock).
    func object(_ id: UInt64) -> (object: any ManagedObject, typeID: String)? {
        objects[id].map { ($0.object, $0.typeID) }
    }

    /// Adds a type this manager can make (a custom ``ManagedType``, or a built-in family).
    func register(typeID: String, _ factory: @escaping Factory) { factories[typeID] = factory }

    /// Adds a function ``SharedDictionary/update(_:with:)`` can run here.
    func register(function name: String, _ body: @escaping ManagerFunctionBody) { functions[name] = body }

    /// The function registered as `name`.
    func function(named name: String) -> ManagerFunctionBody? { functions[name] }

    /// Handles one frame's payload from `link` (kind in ``ManagerWire/kinds``): requests are
    /// answered through the link, exactly once; one-way frames are not.
    func receive(kind: UInt8, correlation: UInt64, payload: UnsafeRawBufferPointer, from link: any ManagerLink) {
        let request: ManagerWire.Request
        do {
            request = try ManagerWire.parse(kind: kind, payload: payload)
        } catch {
            RuntimeLog.warning("[manager] a malformed \(ManagerWire.name(kind) ?? "kind \(kind)") frame from \(link.name): \(error)",
                               metadata: ["client": "\(link.name)"])
            // A kind of the range that is none of ours (71...95) may be a later version's
            // request: answered too, or its sender would wait for ever.
            if ManagerWire.isRequest(kind) || ManagerWire.name(kind) == nil, correlation != 0 {
                link.answer(.failure(error), correlation: correlation)
            }
            return
        }
        handle(request, correlation: correlation, from: link)
    }

    /// Handles a parsed request from `link`.
    func handle(_ request: ManagerWire.Request, correlation: UInt64, from link: any ManagerLink) {
        if stopped {
            if correlation != 0, !isOneWay(request) { link.answer(.failure(ManagerError(.stopped, "the manager stopped")), correlation: correlation) }
            return
        }
        switch request {
        case .create(let typeID, let name, let arguments):
            link.answer(Result { () throws(ManagerError) in try create(typeID, name: name, arguments: arguments, for: link, correlation: correlation) },
                        correlation: correlation)
        case .lookup(let name):
            link.answer(Result { () throws(ManagerError) in
                guard let id = names[name], let entry = objects[id] else {
                    throw ManagerError(.unknownName, "no object is named \"\(name)\" in this manager")
                }
                hold(id, entry, by: link.id)
                return ManagerWire.referencePayload(object: id, typeID: entry.typeID)
            }, correlation: correlation)
        case .call(let object, let method, let arguments):
            call(object, method, arguments, from: link, correlation: correlation)
        case .retain(let object, let from):
            guard let entry = objects[object] else { return }
            if let from, let count = entry.inTransit[from] {
                if count <= 1 { entry.inTransit[from] = nil } else { entry.inTransit[from] = count - 1 }
            }
            hold(object, entry, by: link.id)
        case .transit(let object):
            guard let entry = objects[object] else { return }
            entry.inTransit[link.id, default: 0] += 1
            holdings[link.id, default: []].insert(object)
        case .release(let object):
            guard let entry = objects[object], let count = entry.held[link.id] else { return }
            if count <= 1 { entry.held[link.id] = nil } else { entry.held[link.id] = count - 1 }
            if entry.held[link.id] == nil, entry.inTransit[link.id] == nil { holdings[link.id]?.remove(object) }
            freeIfUnreferenced(object, entry)
        case .cancel:
            waiting[link.id]?[correlation]?.cancel()
        }
    }

    private func isOneWay(_ request: ManagerWire.Request) -> Bool {
        switch request {
        case .create, .call, .lookup: false
        case .retain, .release, .cancel, .transit: true
        }
    }

    private func hold(_ id: UInt64, _ entry: Entry, by client: UInt64) {
        entry.held[client, default: 0] += 1
        holdings[client, default: []].insert(id)
    }

    private func create(_ typeID: String, name: String?, arguments: [MessagePackValue], for link: any ManagerLink,
                        correlation: UInt64) throws(ManagerError) -> [UInt8] {
        if let name, let id = names[name], let entry = objects[id] {
            guard entry.typeID == typeID else {
                throw ManagerError(.unknownType, "the object named \"\(name)\" is a \(entry.typeID), not a \(typeID)")
            }
            hold(id, entry, by: link.id)
            return ManagerWire.referencePayload(object: id, typeID: typeID)
        }
        guard let factory = factories[typeID] else {
            throw ManagerError(.unknownType, "this manager cannot make a \"\(typeID)\" (register the type in the process that runs the manager; it knows \(factories.keys.sorted().joined(separator: ", ")))")
        }
        let objectName = name.map { "\(typeID) \"\($0)\"" } ?? "\(typeID) \(nextID)"
        let creation = ManagerCall(method: "create", arguments: arguments, client: link.id, correlation: correlation, loop: loop,
                                   objectName: objectName, server: self) { _ in }
        let object = try factory(creation)
        let id = add(object, typeID: typeID, name: name)
        hold(id, objects[id]!, by: link.id)
        return ManagerWire.referencePayload(object: id, typeID: typeID)
    }

    private func add(_ object: any ManagedObject, typeID: String, name: String?) -> UInt64 {
        let id = nextID
        nextID += 1
        objects[id] = Entry(object: object, typeID: typeID, name: name)
        if let name { names[name] = id }
        return id
    }

    /// Puts an object a method made into the table, in transit to `client` (whose proxy,
    /// decoded from the answer, takes the reference over): Python's `method_to_typeid`.
    func adopt(_ object: any ManagedObject, typeID: String, for client: UInt64) -> UInt64 {
        let id = add(object, typeID: typeID, name: nil)
        objects[id]!.inTransit[client] = 1
        holdings[client, default: []].insert(id)
        return id
    }

    private func call(_ id: UInt64, _ method: String, _ arguments: [MessagePackValue], from link: any ManagerLink, correlation: UInt64) {
        guard let entry = objects[id] else {
            link.answer(.failure(ManagerError(.unknownObject, "this manager holds no object \(id) (released by every holder, or made by another manager); \(method) was called on it")),
                        correlation: correlation)
            return
        }
        let client = link.id
        let objectName = entry.name.map { "\(entry.typeID) \"\($0)\"" } ?? "\(entry.typeID) \(id)"
        let call = ManagerCall(method: method, arguments: arguments, client: client, correlation: correlation, loop: loop,
                               objectName: objectName, server: self) { [weak self, weak link] result in
            if let self, correlation != 0 { self.waiting[client]?[correlation] = nil }
            link?.answer(result, correlation: correlation)
        }
        do {
            switch try entry.object.perform(call) {
            case .value(let value): call.answer(value)
            case .later:
                if !call.isAnswered, correlation != 0 { waiting[client, default: [:]][correlation] = call }
            }
        } catch {
            call.fail(error)
        }
    }

    private func freeIfUnreferenced(_ id: UInt64, _ entry: Entry) {
        guard !entry.isReferenced else { return }
        objects[id] = nil
        entry.object.stop()
    }

    /// `client` ended: its waiting calls are cancelled, every object is told (a lock it held
    /// is released), and its references are dropped.
    func clientGone(_ client: UInt64) {
        if let calls = waiting.removeValue(forKey: client) {
            for call in calls.values { call.cancel() }
        }
        for entry in objects.values { entry.object.clientGone(client) }
        guard let held = holdings.removeValue(forKey: client) else { return }
        for id in held {
            guard let entry = objects[id] else { continue }
            entry.held[client] = nil
            entry.inTransit[client] = nil
            freeIfUnreferenced(id, entry)
        }
    }

    /// The manager stops: every waiting call fails with ``ManagerError/Code/stopped``; later
    /// requests are refused the same way.
    func stop() {
        guard !stopped else { return }
        stopped = true
        for entry in objects.values { entry.object.stop() }
        for calls in waiting.values {
            for call in calls.values { call.fail(ManagerError(.stopped, "the manager stopped while \(call.objectName).\(call.method) waited")) }
        }
        waiting = [:]
        objects = [:]
        names = [:]
        holdings = [:]
    }
}
