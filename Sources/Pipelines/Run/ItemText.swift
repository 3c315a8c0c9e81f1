import Foundation
import MessagePack

/// How an item is written as one line: a string as it is, anything else as JSON (binary as
/// base64), so a sink's file reads naturally and parses as JSON lines when the items are not
/// strings.
enum ItemText {
    static func render(_ value: MessagePackValue) -> String {
        if case .string(let text) = value { return text }
        return json(value)
    }

    static func json(_ value: MessagePackValue) -> String {
        switch value {
        case .nil: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .uint(let number): return String(number)
        case .float(let number): return number.isFinite ? "\(number)" : "null"
        case .double(let number): return number.isFinite ? "\(number)" : "null"
        case .string(let text): return quoted(text)
        case .binary(let data): return quoted(data.base64EncodedString())
        case .array(let elements): return "[" + elements.map(json).joined(separator: ",") + "]"
        case .map(let entries):
            return "{" + entries.map { entry in
                let key: String
                if case .string(let text) = entry.key { key = text } else { key = render(entry.key) }
                return quoted(key) + ":" + json(entry.value)
            }.joined(separator: ",") + "}"
        case .extension(let type, let data): return "{\"ext\":\(type),\"data\":\(quoted(data.base64EncodedString()))}"
        case .timestamp(let seconds, let nanoseconds): return "\(Double(seconds) + Double(nanoseconds) / 1e9)"
        }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
