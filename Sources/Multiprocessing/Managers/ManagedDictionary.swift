import MessagePack
import OrderedCollections

/// The manager's side of a ``SharedDictionary`` (typeid `dict`) and of a ``Namespace``
/// (typeid `namespace`, the same store keyed by attribute names): keys and values as msgpack
/// values, in insertion order as Python's dict. Every method is one call on the manager's
/// loop, so a read-modify-write (increment, compare-and-set, append, merge, update with a
/// registered function) is atomic.
final class ManagedDictionary: ManagedObject {
    private var store: OrderedDictionary<MessagePackValue, MessagePackValue> = [:]
    private let isNamespace: Bool

    init(isNamespace: Bool = false) { self.isNamespace = isNamespace }

    private var typeName: String { isNamespace ? "Namespace" : "SharedDictionary" }

    /// What absent keys are called in messages.
    private func missing(_ key: MessagePackValue, _ call: ManagerCall) -> ManagerError {
        isNamespace
            ? ManagerError(.unknownKey, "\(call.objectName) has no attribute \(key)")
            : ManagerError(.unknownKey, "\(call.objectName) has no key \(key)")
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "get":
            // [] when absent, [value] when present: a stored nil stays distinct from no key.
            let key = try call.rawArgument(0)
            return .value(store[key].map { .array([$0]) } ?? .array([]))
        case "getItem":
            let key = try call.rawArgument(0)
            guard let value = store[key] else { throw missing(key, call) }
            return .value(value)
        case "set":
            store[try call.rawArgument(0)] = try call.rawArgument(1)
            return .value(.nil)
        case "remove":
            return .value(store.removeValue(forKey: try call.rawArgument(0)).map { .array([$0]) } ?? .array([]))
        case "pop":
            let key = try call.rawArgument(0)
            if let value = store.removeValue(forKey: key) { return .value(value) }
            guard call.arguments.count > 1 else { throw missing(key, call) }
            return .value(call.arguments[1])
        case "contains":
            return .value(.bool(store[try call.rawArgument(0)] != nil))
        case "count":
            return .value(.uint(UInt64(store.count)))
        case "keys":
            return .value(.array(Array(store.keys)))
        case "values":
            return .value(.array(Array(store.values)))
        case "items":
            return .value(.array(store.map { .array([$0.key, $0.value]) }))
        case "update":
            for (key, value) in try pairs(call.rawArgument(0), call) { store[key] = value }
            return .value(.nil)
        case "setDefault":
            let key = try call.rawArgument(0)
            if let value = store[key] { return .value(value) }
            let value = try call.rawArgument(1)
            store[key] = value
            return .value(value)
        case "clear":
            store.removeAll()
            return .value(.nil)
        case "increment":
            let key = try call.rawArgument(0)
            let sum = try Self.add(store[key] ?? .int(0), try call.rawArgument(1), what: "\(call.objectName)[\(key)]")
            store[key] = sum
            return .value(sum)
        case "compareAndSet":
            // [key, expected ([] = absent, [value]), new]
            let key = try call.rawArgument(0)
            let expected = try call.argument(1, as: [MessagePackValue].self)
            let current = store[key]
            let matches = expected.isEmpty ? current == nil : current == expected[0]
            if matches { store[key] = try call.rawArgument(2) }
            return .value(.bool(matches))
        case "append":
            let key = try call.rawArgument(0)
            let element = try call.rawArgument(1)
            switch store[key] {
            case nil:
                store[key] = .array([element])
                return .value(.uint(1))
            case .array(var elements):
                store[key] = .nil   // keeps the array uniquely referenced while it grows
                elements.append(element)
                store[key] = .array(elements)
                return .value(.uint(UInt64(elements.count)))
            case let other?:
                throw ManagerError(.wrongType, "\(call.objectName)[\(key)] is \(other.typeDescription), not a list: cannot append to it")
            }
        case "merge":
            // [pairs, policy]: "replace" (the new value wins), "keep" (the old one does), "sum".
            let policy = try call.argument(1, as: String.self)
            guard ["replace", "keep", "sum"].contains(policy) else {
                throw ManagerError(.invalidArgument, "\(call.objectName).merge: the policy is replace, keep or sum, not \"\(policy)\"")
            }
            let entries = try pairs(call.rawArgument(0), call)
            // Checked first, applied after: a merge that fails changes nothing.
            var merged: [(MessagePackValue, MessagePackValue)] = []
            for (key, value) in entries {
                guard let old = store[key] else { merged.append((key, value)); continue }
                switch policy {
                case "replace": merged.append((key, value))
                case "keep": break
                default: merged.append((key, try Self.add(old, value, what: "\(call.objectName)[\(key)]")))
                }
            }
            for (key, value) in merged { store[key] = value }
            return .value(.nil)
        case "apply":
            // [key, function name]: the registered function's new value, stored and answered.
            let key = try call.rawArgument(0)
            let name = try call.argument(1, as: String.self)
            guard let function = call.server?.function(named: name) else {
                throw ManagerError(.unknownMethod, "\(call.objectName): no function \"\(name)\" is registered with the manager (register it in the process that runs the manager)")
            }
            do {
                let value = try function(store[key])
                store[key] = value
                return .value(value)
            } catch let error as ManagerError {
                throw error
            } catch {
                throw ManagerError(.functionFailed, "\(call.objectName): \(name) failed on \(key): \(RemoteError(error))")
            }
        default:
            throw call.unknownMethod(in: typeName)
        }
    }

    /// An array of `[key, value]` pairs (how a dictionary argument travels, keeping its order).
    private func pairs(_ value: MessagePackValue, _ call: ManagerCall) throws(ManagerError) -> [(MessagePackValue, MessagePackValue)] {
        switch value {
        case .array(let elements):
            var result: [(MessagePackValue, MessagePackValue)] = []
            for element in elements {
                guard case .array(let pair) = element, pair.count == 2 else {
                    throw ManagerError(.wrongType, "\(call.objectName).\(call.method): an entry is \(element.typeDescription), not a [key, value] pair")
                }
                result.append((pair[0], pair[1]))
            }
            return result
        case .map(let entries):
            return entries.map { ($0.key, $0.value) }
        default:
            throw ManagerError(.wrongType, "\(call.objectName).\(call.method): the entries are \(value.typeDescription), not a map or [key, value] pairs")
        }
    }

    /// `old + delta` for two integers (overflow is an error, as Swift's) or numbers with a
    /// float among them; anything else is ``ManagerError/Code/wrongType`` naming `what`.
    static func add(_ old: MessagePackValue, _ delta: MessagePackValue, what: String) throws(ManagerError) -> MessagePackValue {
        switch (old, delta) {
        case (.int, _), (.uint, _):
            guard let a = old.integerValue else { break }
            if let b = delta.integerValue {
                let (sum, overflow) = a.addingReportingOverflow(b)
                guard !overflow else { throw ManagerError(.invalidArgument, "\(what): \(a) + \(b) overflows a 64-bit integer") }
                return sum >= 0 ? .uint(UInt64(sum)) : .int(sum)
            }
            if let b = delta.floatingValue { return .double(Double(a) + b) }
        case (.float, _), (.double, _):
            if let a = old.floatingValue, let b = delta.floatingValue ?? delta.integerValue.map(Double.init) { return .double(a + b) }
        default:
            throw ManagerError(.wrongType, "\(what) is \(old.typeDescription), not a number: cannot add \(delta) to it")
        }
        throw ManagerError(.wrongType, "cannot add \(delta.typeDescription) to \(what), which is \(old.typeDescription)")
    }
}

extension MessagePackValue {
    /// The value as an Int64 if it is an integer that fits.
    var integerValue: Int64? {
        switch self {
        case .int(let v): v
        case .uint(let v): v <= UInt64(Int64.max) ? Int64(v) : nil
        default: nil
        }
    }

    /// The value as a Double if it is a float.
    var floatingValue: Double? {
        switch self {
        case .float(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }
}
