import MessagePack

/// The manager's side of a ``SharedList`` (typeid `list`): elements as msgpack values, each
/// method one atomic call on the manager's loop. Indices may be negative (from the end), as
/// Python's.
final class ManagedList: ManagedObject {
    private var elements: [MessagePackValue]

    init(_ elements: [MessagePackValue]) { self.elements = elements }

    /// `index` (negative counts from the end) within `0..<count + extra`, or
    /// ``ManagerError/Code/indexOutOfRange`` naming it and the count.
    private func position(_ call: ManagerCall, _ argument: Int, extra: Int = 0) throws(ManagerError) -> Int {
        let index = try call.argument(argument, as: Int.self)
        let resolved = index < 0 ? index + elements.count : index
        guard resolved >= 0, resolved < elements.count + extra else {
            throw ManagerError(.indexOutOfRange, "\(call.objectName).\(call.method): index \(index) is outside a list of \(elements.count) elements")
        }
        return resolved
    }

    func perform(_ call: ManagerCall) throws(ManagerError) -> ManagerCall.Outcome {
        switch call.method {
        case "append":
            elements.append(try call.rawArgument(0))
            return .value(.uint(UInt64(elements.count)))
        case "extend":
            elements.append(contentsOf: try call.argument(0, as: [MessagePackValue].self))
            return .value(.uint(UInt64(elements.count)))
        case "insert":
            // Python clamps an insert's index: past the end appends.
            let index = try call.argument(0, as: Int.self)
            let resolved = min(max(index < 0 ? index + elements.count : index, 0), elements.count)
            elements.insert(try call.rawArgument(1), at: resolved)
            return .value(.uint(UInt64(elements.count)))
        case "remove":
            let element = try call.rawArgument(0)
            guard let index = elements.firstIndex(of: element) else {
                throw ManagerError(.unknownKey, "\(call.objectName).remove: \(element) is not in the list")
            }
            elements.remove(at: index)
            return .value(.nil)
        case "pop":
            guard !elements.isEmpty else { throw ManagerError(.indexOutOfRange, "\(call.objectName).pop: the list is empty") }
            if call.arguments.isEmpty || call.arguments[0].isNil { return .value(elements.removeLast()) }
            return .value(elements.remove(at: try position(call, 0)))
        case "get":
            return .value(elements[try position(call, 0)])
        case "set":
            elements[try position(call, 0)] = try call.rawArgument(1)
            return .value(.nil)
        case "count":
            return .value(.uint(UInt64(elements.count)))
        case "slice":
            // [start, end]: Python's clamping of a slice's bounds.
            let count = elements.count
            func clamp(_ value: Int?, _ absent: Int) -> Int {
                guard let value else { return absent }
                return min(max(value < 0 ? value + count : value, 0), count)
            }
            let start = clamp(try call.optionalArgument(0, as: Int.self), 0)
            let end = clamp(try call.optionalArgument(1, as: Int.self), count)
            return .value(.array(start < end ? Array(elements[start..<end]) : []))
        case "index":
            let element = try call.rawArgument(0)
            guard let index = elements.firstIndex(of: element) else {
                throw ManagerError(.unknownKey, "\(call.objectName).index: \(element) is not in the list")
            }
            return .value(.uint(UInt64(index)))
        case "clear":
            elements.removeAll()
            return .value(.nil)
        default:
            throw call.unknownMethod(in: "SharedList")
        }
    }
}
