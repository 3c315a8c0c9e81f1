import MessagePack

/// A type of your own whose instances live in a manager and whose methods run there (Python's
/// `BaseManager.register(typeid, callable, exposed, method_to_typeid)`): the manager's process
/// holds the state, every process calls the methods listed in ``exposed`` through a typed
/// ``ManagedProxy``, one call at a time.
///
/// ```swift
/// struct Tally: ManagedType {
///     static let typeID = "Tally"
///     var total: Int
///     init(_ start: Int) { total = start }
///
///     static let add = ManagedMethod<Tally, Int, Int>("add") { tally, amount in
///         tally.total += amount
///         return tally.total
///     }
///     static let exposed = [add.exposed]
/// }
///
/// try manager.register(Tally.self)                     // in the process that runs the manager
/// let tally = try await manager.object(Tally.self, 10) // from any process
/// let total = try await tally.call(Tally.add, 5)       // 15
/// ```
public protocol ManagedType: SendableMetatype {
    /// The name the manager knows the type by (the same in every process).
    static var typeID: String { get }
    /// What a new instance is made from (``NoArgument`` for nothing).
    associatedtype Argument: Codable & Sendable = NoArgument
    /// A new instance; a thrown error fails the creation with ``ManagerError/Code/functionFailed``.
    init(_ argument: Argument) throws
    /// The methods a proxy may call (Python's `exposed`): any other name is
    /// ``ManagerError/Code/unknownMethod``.
    static var exposed: [ExposedMethod<Self>] { get }
}

/// A method of a ``ManagedType`` that runs in the manager: it gets the instance (to change it)
/// and an `Argument`, and answers a `Result`. Declared once and used on both sides: the
/// manager runs it, a ``ManagedProxy`` calls it with typed arguments.
public struct ManagedMethod<Object: ManagedType, Argument: Codable & Sendable, Result: Codable & Sendable>: Sendable {
    /// The method's name on the wire.
    public let name: String
    let body: @Sendable (inout Object, Argument) throws -> Result

    /// A method named `name` doing `body`.
    public init(_ name: String, _ body: @escaping @Sendable (inout Object, Argument) throws -> Result) {
        self.name = name
        self.body = body
    }

    /// The method as ``ManagedType/exposed`` lists it.
    public var exposed: ExposedMethod<Object> {
        ExposedMethod(name: name) { object, call throws(ManagerError) in
            let argument = try call.argument(0, as: Argument.self)
            let result = try ExposedMethod<Object>.run(call) { try body(&object, argument) }
            return try ExposedMethod<Object>.encode(result, call)
        }
    }
}

/// A method of a ``ManagedType`` that makes a new managed object of another registered type
/// and answers a proxy of it (Python's `method_to_typeid`).
///
/// ```swift
/// static let split = ManagedFactoryMethod<Tally, Int, Tally>("split") { tally, part in
///     tally.total -= part
///     return Tally(part)
/// }
/// let other = try await tally.call(Tally.split, 3)   // a ManagedProxy<Tally>
/// ```
public struct ManagedFactoryMethod<Object: ManagedType, Argument: Codable & Sendable, Made: ManagedType>: Sendable {
    /// The method's name on the wire.
    public let name: String
    let body: @Sendable (inout Object, Argument) throws -> Made

    /// A method named `name` doing `body`.
    public init(_ name: String, _ body: @escaping @Sendable (inout Object, Argument) throws -> Made) {
        self.name = name
        self.body = body
    }

    /// The method as ``ManagedType/exposed`` lists it.
    public var exposed: ExposedMethod<Object> {
        ExposedMethod(name: name) { object, call throws(ManagerError) in
            let argument = try call.argument(0, as: Argument.self)
            let made = try ExposedMethod<Object>.run(call) { try body(&object, argument) }
            guard let server = call.server else { throw ManagerError(.stopped, "the manager stopped") }
            let id = server.adopt(CustomObject(made), typeID: Made.typeID, for: call.client)
            return .array([.uint(id), .string(Made.typeID)])
        }
    }
}

/// A method as the manager runs it, its types erased: an entry of ``ManagedType/exposed``.
public struct ExposedMethod<Object: ManagedType>: Sendable {
    /// The method's name.
    public let name: String
    let invoke: @Sendable (inout Object, ManagerCall) throws(ManagerError) -> MessagePackValue

    init(name: String, invoke: @escaping @Sendable (inout Object, ManagerCall) throws(ManagerError) -> MessagePackValue) {
        self.name = name
        self.invoke = invoke
    }

    /// Runs a user's body: its error becomes ``ManagerError/Code/functionFailed`` naming the method.
    static func run<T>(_ call: ManagerCall, _ body: () throws -> T) throws(ManagerError) -> T {
        do {
            return try body()
        } catch let error as ManagerError {
            throw error
        } catch {
            throw ManagerError(.functionFailed, "\(call.objectName).\(call.method) threw \(RemoteError(error))")
        }
    }

    static func encode<T: Encodable>(_ value: T, _ call: ManagerCall) throws(ManagerError) -> MessagePackValue {
        do {
            return try MessagePackValue(encoding: value)
        } catch {
            throw ManagerError(.wrongType, "\(call.objectName).\(call.method): its result (a \(T.self)) does not encode: \(error)")
        }
    }
}

/// The manager's side of a custom object: the instance and its exposed methods by name.
final class CustomObject<Object: ManagedType>: ManagedObject {
    private var value: Object
    private let methods: [String: ExposedMethod<Object>]

    init(_ value: Object) {
        self.value = value
        methods = Dictionary(Object.exposed.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// A new instance made from `argument`, its initializer's error as ``ManagerError/Code/functionFailed``.
    convenience init(_ argument: Object.Argument, call: ManagerCall) throws(ManagerError) {
        self.init(try ExposedMethod<Object>.run(call) { try Object(argument) })
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        guard let method = methods[call.method] else {
            throw ManagerError(.unknownMethod, "\(call.objectName) (\(Object.typeID)) exposes no method \"\(call.method)\"; it exposes \(methods.keys.sorted().joined(separator: ", "))")
        }
        return .value(try method.invoke(&value, call))
    }
}

/// The proxy of an object of a custom ``ManagedType``: calls its exposed methods with typed
/// arguments and results.
///
/// ```swift
/// let tally = try await manager.object(Tally.self, 0)
/// try await tally.call(Tally.add, 2)
/// ```
public struct ManagedProxy<Object: ManagedType>: ManagerProxy {
    public static var typeID: String { Object.typeID }
    public let reference: ManagedReference

    public init(reference: ManagedReference) { self.reference = reference }

    /// Runs `method` with `argument` in the manager; its result.
    @discardableResult
    public func call<Argument, Result>(_ method: ManagedMethod<Object, Argument, Result>, _ argument: Argument) async throws(ManagerError) -> Result {
        try await invoke(method.name, [encode(argument, "the argument of \(method.name)")], as: Result.self)
    }

    /// Runs `method`, which takes no argument, in the manager; its result.
    @discardableResult
    public func call<Result>(_ method: ManagedMethod<Object, NoArgument, Result>) async throws(ManagerError) -> Result {
        try await call(method, NoArgument())
    }

    /// Runs `method` in the manager; a proxy of the object it made.
    public func call<Argument, Made>(_ method: ManagedFactoryMethod<Object, Argument, Made>, _ argument: Argument) async throws(ManagerError) -> ManagedProxy<Made> {
        let client = reference.client
        let bytes = try await client.call(reference.object, method.name, [encode(argument, "the argument of \(method.name)")])
        let (object, typeID) = try ManagerWire.parseReference(bytes)
        // The manager holds the new object in transit to this process: take it over.
        client.retain(object, from: client.transport.clientID)
        return ManagedProxy<Made>(reference: ManagedReference(client: client, object: object, typeID: typeID))
    }
}
