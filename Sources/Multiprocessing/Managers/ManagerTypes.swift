import MessagePack

/// What a registered function does inside the manager: the old value (nil when the key is
/// absent) to the new one, as msgpack values.
typealias ManagerFunctionBody = (MessagePackValue?) throws -> MessagePackValue

/// The types every manager can make, by typeid (Protocols/PROTOCOL.md, "Manager typeids").
/// A constant table: each manager copies it into its own registry, where custom types join.
enum ManagerTypes {
    static let dictionary = "dict"
    static let list = "list"
    static let namespace = "namespace"

    /// Every built-in typeid and its factory.
    static let builtIn: [(String, ManagerObjects.Factory)] = [
        (dictionary, { @Sendable _ throws(ManagerError) in ManagedDictionary() }),
        (list, { @Sendable call throws(ManagerError) in ManagedList(try call.optionalArgument(0, as: [MessagePackValue].self) ?? []) }),
        (namespace, { @Sendable _ throws(ManagerError) in ManagedDictionary(isNamespace: true) }),
    ] + ManagerTypes.synchronization

    /// The synchronization primitives, values and queues (Managers/Sync/).
    static let synchronization: [(String, ManagerObjects.Factory)] = []
}
