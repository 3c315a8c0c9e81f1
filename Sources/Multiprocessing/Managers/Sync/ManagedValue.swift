/// A manager-hosted `value` (Python's `Manager().Value(typecode, value)`): one msgpack value;
/// the proxy is ``ManagerValue``. Create arguments: `[initial]`. Methods: `get`, `set [value]`
/// (a value of another kind than the stored one is `wrongType`), `add [delta]` (numbers:
/// atomic, answers the new value).
final class ManagedValue: ManagedObject {
    /// "value 3", for messages.
    let name: String
    private(set) var value: MessagePackValue

    init(_ call: ManagerCall) throws(ManagerError) {
        name = call.objectName
        value = try call.argument(0, as: MessagePackValue.self)
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "get":
            return .value(value)
        case "set":
            let new = try call.argument(0, as: MessagePackValue.self)
            try ManagedScalar.checkKind(of: new, replacing: value, "\(name).set")
            value = new
            return .value(.nil)
        case "add":
            value = try ManagedScalar.add(try call.argument(0, as: MessagePackValue.self), to: value, "\(name).add")
            return .value(value)
        default:
            throw call.unknownMethod(in: "ManagerValue")
        }
    }
}

/// A manager-hosted `array` (Python's `Manager().Array(typecode, sequence)`): a fixed number of
/// msgpack values; the proxy is ``ManagerArray``. Create arguments: `[elements: array]`.
/// Methods: `get [index]`, `set [index, value]`, `count`, `snapshot [start or nil, end or nil]`,
/// `add [index, delta]` (numbers: atomic, answers the new element). An index outside the array
/// is `invalidArgument`; a value of another kind than the element it replaces, `wrongType`.
final class ManagedArray: ManagedObject {
    /// "array 3", for messages.
    let name: String
    private(set) var elements: [MessagePackValue]

    init(_ call: ManagerCall) throws(ManagerError) {
        name = call.objectName
        elements = try call.argument(0, as: [MessagePackValue].self)
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "get":
            return .value(elements[try index(call, "\(name).get")])
        case "set":
            let index = try index(call, "\(name).set")
            let new = try call.argument(1, as: MessagePackValue.self)
            try ManagedScalar.checkKind(of: new, replacing: elements[index], "\(name).set at \(index)")
            elements[index] = new
            return .value(.nil)
        case "add":
            let index = try index(call, "\(name).add")
            elements[index] = try ManagedScalar.add(try call.argument(1, as: MessagePackValue.self), to: elements[index],
                                                    "\(name).add at \(index)")
            return .value(elements[index])
        case "count":
            return .value(.int(Int64(elements.count)))
        case "snapshot":
            let start = try call.optionalArgument(0, as: Int.self) ?? 0
            let end = try call.optionalArgument(1, as: Int.self) ?? elements.count
            guard 0 <= start, start <= end, end <= elements.count else {
                throw ManagerError(.indexOutOfRange, "\(name).snapshot: the range \(start)..<\(end) is not within 0..<\(elements.count)")
            }
            return .value(.array(Array(elements[start..<end])))
        default:
            throw call.unknownMethod(in: "ManagerArray")
        }
    }

    private func index(_ call: ManagerCall, _ what: String) throws(ManagerError) -> Int {
        let index = try call.argument(0, as: Int.self)
        guard elements.indices.contains(index) else {
            throw ManagerError(.indexOutOfRange, "\(what): the index \(index) is not within 0..<\(elements.count)")
        }
        return index
    }
}

/// What `value` and `array` share: the kind check of a write and the atomic numeric add.
enum ManagedScalar {
    /// The kind of a msgpack value, as a write is checked against ("integer" for int and uint).
    static func kind(of value: MessagePackValue) -> String {
        switch value {
        case .nil: "nil"
        case .bool: "bool"
        case .int, .uint: "integer"
        case .float, .double: "float"
        case .string: "string"
        case .binary: "binary"
        case .array: "array"
        case .map: "map"
        case .extension: "extension"
        case .timestamp: "timestamp"
        }
    }

    /// Throws `wrongType` when `new` is not of `old`'s kind (nil on either side is let through:
    /// an optional's value comes and goes).
    static func checkKind(of new: MessagePackValue, replacing old: MessagePackValue, _ what: String) throws(ManagerError) {
        let newKind = kind(of: new), oldKind = kind(of: old)
        guard newKind == oldKind || newKind == "nil" || oldKind == "nil" else {
            throw ManagerError(.wrongType, "\(what): a value of kind \(newKind) cannot replace one of kind \(oldKind)")
        }
    }

    /// `value + delta` for two integers (overflow is `invalidArgument`) or a float and a number;
    /// `wrongType` for anything else.
    static func add(_ delta: MessagePackValue, to value: MessagePackValue, _ what: String) throws(ManagerError) -> MessagePackValue {
        switch (value, delta) {
        case (.int, .int), (.int, .uint), (.uint, .int), (.uint, .uint):
            guard let a = value.int64Value, let b = delta.int64Value else {
                throw ManagerError(.invalidArgument, "\(what): an integer above Int64.max cannot be added to")
            }
            let (sum, overflow) = a.addingReportingOverflow(b)
            guard !overflow else { throw ManagerError(.invalidArgument, "\(what): \(a) + \(b) overflows Int64") }
            return .int(sum)
        case (.float, _), (.double, _):
            guard let a = double(value), let b = double(delta) else {
                throw ManagerError(.wrongType, "\(what): a \(kind(of: delta)) cannot be added to a float")
            }
            if case .float = value { return .float(Float(a + b)) }
            return .double(a + b)
        default:
            throw ManagerError(.wrongType, "\(what): a \(kind(of: delta)) cannot be added to a \(kind(of: value)) (add takes numbers)")
        }
    }

    private static func double(_ value: MessagePackValue) -> Double? {
        switch value {
        case .float(let v): Double(v)
        case .double(let v): v
        case .int(let v): Double(v)
        case .uint(let v): Double(v)
        default: nil
        }
    }
}
