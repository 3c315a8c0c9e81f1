import FoundationEssentials

/// `MessagePackValue` is `Codable` with any coder: with ``MessagePackEncoder`` and
/// ``MessagePackDecoder`` it is written and read as raw MessagePack (exactly what is on the
/// wire); with others (JSON, say) it maps onto their containers as closely as they allow.
extension MessagePackValue: Codable {
    public init(from decoder: any Decoder) throws {
        if let mp = decoder as? _MessagePackDecoder {
            do {
                self = try MessagePackValue.parse(mp.reader, at: mp.offset, depth: 0).value
            } catch {
                throw mp.corrupted(error, key: nil)
            }
            return
        }
        if let c = try? decoder.container(keyedBy: _MessagePackKey.self) {
            self = .map(try c.allKeys.map { (key: .string($0.stringValue), value: try c.decode(MessagePackValue.self, forKey: $0)) })
            return
        }
        if var c = try? decoder.unkeyedContainer() {
            var elements: [MessagePackValue] = []
            while !c.isAtEnd { elements.append(try c.decode(MessagePackValue.self)) }
            self = .array(elements)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .nil }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int64.self) { self = .int(v) }
        else if let v = try? c.decode(UInt64.self) { self = .uint(v) }
        else if let v = try? c.decode(Double.self) { self = .double(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode(Data.self) { self = .binary(v) }
        else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "no MessagePack value fits here"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        if let mp = encoder as? _MessagePackEncoder {
            var c = mp.singleValueContainer()
            try c.encode(self)   // lands in encodeSpecial: raw MessagePack
            return
        }
        switch self {
        case .nil: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .int(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .uint(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .float(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .double(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .string(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .binary(let v): var c = encoder.singleValueContainer(); try c.encode(v)
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for e in a { try c.encode(e) }
        case .map(let entries):
            var c = encoder.container(keyedBy: _MessagePackKey.self)
            for (k, v) in entries {
                try c.encode(v, forKey: _MessagePackKey(stringValue: k.stringValue ?? k.description))
            }
        case .extension(let type, let data):
            var c = encoder.unkeyedContainer()
            try c.encode(type)
            try c.encode(data)
        case .timestamp(let s, let n):
            var c = encoder.singleValueContainer()
            try c.encode(Date(timeIntervalSince1970: Double(s) + Double(n) / 1e9))
        }
    }
}
