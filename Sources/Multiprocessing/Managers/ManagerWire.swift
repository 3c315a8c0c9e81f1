import MessagePack

/// The manager protocol's frames (Protocols/PROTOCOL.md, "Manager"): kinds 64...95, capability
/// "manager". A client asks with the common envelope `[kind, flags, source, 0, correlation]`
/// and a payload array; requests are answered by the core's `reply` (the result value) or
/// `error` (a `RemoteError` named `ManagerError.<code>`) with their correlation, and one-way
/// frames (retain, release, cancel, transit) by nothing.
enum ManagerWire {
    /// The kinds the manager owns.
    static let kinds: ClosedRange<UInt8> = 64...95
    /// `[typeid: str, name: str or nil, arguments: array]` -> `[object: uint, typeid: str]`.
    static let create: UInt8 = 64
    /// `[object: uint, method: str, arguments: array]` -> the result.
    static let call: UInt8 = 65
    /// One-way `[object: uint, from: uint or nil]`: one more reference held by the sender
    /// (a decoded proxy); `from` names the client whose in-transit reference it takes over.
    static let retain: UInt8 = 66
    /// One-way `[object: uint]`: one reference fewer.
    static let release: UInt8 = 67
    /// One-way, payload nil: the sender's waiting call with this correlation is answered now
    /// with `ManagerError.cancelled`.
    static let cancel: UInt8 = 68
    /// `[name: str]` -> `[object: uint, typeid: str]`.
    static let lookup: UInt8 = 69
    /// One-way `[object: uint]`: the sender encoded a proxy of the object (an in-transit
    /// reference, until a retain names the sender, or the sender ends).
    static let transit: UInt8 = 70
    /// What a process that speaks the manager protocol announces.
    static let capability = "manager"

    /// The kinds' names, as PROTOCOL.md's "Manager kinds" table gives them.
    static func name(_ kind: UInt8) -> String? {
        switch kind {
        case create: "managerCreate"
        case call: "managerCall"
        case retain: "managerRetain"
        case release: "managerRelease"
        case cancel: "managerCancel"
        case lookup: "managerLookup"
        case transit: "managerTransit"
        default: nil
        }
    }

    /// Whether a frame of `kind` is answered.
    static func isRequest(_ kind: UInt8) -> Bool { kind == create || kind == call || kind == lookup }

    /// One whole frame (length prefix included): the envelope, then `payload`, which is a
    /// msgpack value already.
    static func frame(_ envelope: Envelope, payload: UnsafeRawBufferPointer) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 16)
        bytes.packBigEndian(UInt32(0))   // the length, patched below
        envelope.pack(into: &bytes)
        bytes.packRaw(payload)
        let length = UInt32(bytes.count - 4)
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: 0, as: UInt32.self) }
        return bytes
    }

    /// The frame of a client's request or one-way message.
    static func request(_ kind: UInt8, source: UInt64, correlation: UInt64, payload: [UInt8]) -> [UInt8] {
        payload.withUnsafeBytes { frame(Envelope(Envelope.Kind(rawValue: UInt64(kind)), from: source, to: Envelope.supervisor, correlation: correlation), payload: $0) }
    }

    /// The frame answering `correlation` of `client`: a reply with `result`'s bytes, or an error.
    static func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64, server: UInt64 = Envelope.supervisor, client: UInt64) -> [UInt8] {
        switch result {
        case .success(let bytes):
            return bytes.withUnsafeBytes { frame(Envelope(.reply, from: server, to: client, correlation: correlation), payload: $0) }
        case .failure(let error):
            let bytes = (try? MessagePackEncoder().encode(error.remote)) ?? [0xc0]
            return bytes.withUnsafeBytes { frame(Envelope(.error, from: server, to: client, correlation: correlation), payload: $0) }
        }
    }

    // MARK: payloads

    /// `[typeid, name, arguments]`; `arguments` holds encoded values.
    static func createPayload(typeID: String, name: String?, arguments: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.packArrayHeader(3)
        bytes.packString(typeID)
        if let name { bytes.packString(name) } else { bytes.packNil() }
        appendArguments(arguments, to: &bytes)
        return bytes
    }

    /// `[object, method, arguments]`; `arguments` holds encoded values.
    static func callPayload(object: UInt64, method: String, arguments: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + method.utf8.count + arguments.reduce(0) { $0 + $1.count })
        bytes.packArrayHeader(3)
        bytes.packUInt(object)
        bytes.packString(method)
        appendArguments(arguments, to: &bytes)
        return bytes
    }

    /// `[object, from]`, `[object]` or `[name]`.
    static func objectPayload(_ object: UInt64, from: UInt64?? = .none) -> [UInt8] {
        var bytes: [UInt8] = []
        switch from {
        case .none:
            bytes.packArrayHeader(1)
            bytes.packUInt(object)
        case .some(let from):
            bytes.packArrayHeader(2)
            bytes.packUInt(object)
            if let from { bytes.packUInt(from) } else { bytes.packNil() }
        }
        return bytes
    }

    static func namePayload(_ name: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.packArrayHeader(1)
        bytes.packString(name)
        return bytes
    }

    /// `[object, typeid]`: what create and lookup answer.
    static func referencePayload(object: UInt64, typeID: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.packArrayHeader(2)
        bytes.packUInt(object)
        bytes.packString(typeID)
        return bytes
    }

    static func parseReference(_ bytes: [UInt8]) throws(ManagerError) -> (object: UInt64, typeID: String) {
        // Untyped throws in the closure: swiftc 6.3 crashes on a typed-throws closure returning a tuple.
        let parsed: (UInt64, String)? = bytes.withUnsafeBytes { raw in
            var reader = MessagePackReader(raw)
            guard (try? reader.readArrayHeader()) == 2, let object = try? reader.readUInt(), let typeID = try? reader.readString() else { return nil }
            return (object, typeID)
        }
        guard let parsed else {
            throw ManagerError(.protocolViolation, "a create or lookup answer is not [object, typeid]: \((try? MessagePackValue(unpacking: bytes))?.description ?? "not msgpack")")
        }
        return parsed
    }

    private static func appendArguments(_ arguments: [[UInt8]], to bytes: inout [UInt8]) {
        bytes.packArrayHeader(arguments.count)
        for argument in arguments { argument.withUnsafeBytes { bytes.packRaw($0) } }
    }

    /// A request as the server reads it.
    enum Request {
        case create(typeID: String, name: String?, arguments: [MessagePackValue])
        case call(object: UInt64, method: String, arguments: [MessagePackValue])
        case retain(object: UInt64, from: UInt64?)
        case release(object: UInt64)
        case cancel
        case lookup(name: String)
        case transit(object: UInt64)
    }

    /// Reads the payload of a frame of `kind`; a payload of another shape is
    /// ``ManagerError/Code/protocolViolation`` naming the kind and what was expected.
    static func parse(kind: UInt8, payload: UnsafeRawBufferPointer) throws(ManagerError) -> Request {
        var reader = MessagePackReader(payload)
        let expected: String
        switch kind {
        case create: expected = "[typeid, name, arguments]"
        case call: expected = "[object, method, arguments]"
        case retain: expected = "[object, from]"
        case release, transit: expected = "[object]"
        case lookup: expected = "[name]"
        case cancel: return .cancel
        default: throw ManagerError(.protocolViolation, "kind \(kind) is not a manager request (64...70 are)")
        }
        do {
            let count = try reader.readArrayHeader()
            func arguments(_ reader: inout MessagePackReader) throws(MessagePackError) -> [MessagePackValue] {
                let n = try reader.readArrayHeader()
                var values: [MessagePackValue] = []
                values.reserveCapacity(n)
                for _ in 0..<n { values.append(try reader.readValue()) }
                return values
            }
            let request: Request
            switch kind {
            case create where count == 3:
                let typeID = try reader.readString()
                let name: String? = try reader.readNilIfPresent() ? nil : try reader.readString()
                request = .create(typeID: typeID, name: name, arguments: try arguments(&reader))
            case call where count == 3:
                let object = try reader.readUInt()
                let method = try reader.readString()
                request = .call(object: object, method: method, arguments: try arguments(&reader))
            case retain where count == 2:
                let object = try reader.readUInt()
                request = .retain(object: object, from: try reader.readNilIfPresent() ? nil : try reader.readUInt())
            case release where count == 1: request = .release(object: try reader.readUInt())
            case transit where count == 1: request = .transit(object: try reader.readUInt())
            case lookup where count == 1: request = .lookup(name: try reader.readString())
            default:
                throw ManagerError(.protocolViolation, "a \(name(kind) ?? "\(kind)") payload must be \(expected); it has \(count) elements")
            }
            guard reader.isAtEnd else {
                throw ManagerError(.protocolViolation, "a \(name(kind) ?? "\(kind)") payload has bytes after \(expected)")
            }
            return request
        } catch let error as ManagerError {
            throw error
        } catch {
            throw ManagerError(.protocolViolation, "a \(name(kind) ?? "\(kind)") payload is not \(expected): \(error)")
        }
    }
}

extension MessagePackValue {
    /// Appends this value's msgpack bytes to `output` (the Swift writer, no C call).
    func pack(to output: inout [UInt8]) {
        switch self {
        case .nil: output.packNil()
        case .bool(let v): output.packBool(v)
        case .int(let v): output.packInt(v)
        case .uint(let v): output.packUInt(v)
        case .float(let v): output.packFloat(v)
        case .double(let v): output.packDouble(v)
        case .string(let v): output.packString(v)
        case .binary(let v): v.withUnsafeBytes { output.packBinary($0) }
        case .array(let elements):
            output.packArrayHeader(elements.count)
            for element in elements { element.pack(to: &output) }
        case .map(let entries):
            output.packMapHeader(entries.count)
            for (key, value) in entries {
                key.pack(to: &output)
                value.pack(to: &output)
            }
        case .extension, .timestamp:
            packed().withUnsafeBytes { output.packRaw($0) }
        }
    }

    /// This value's msgpack bytes (the Swift writer).
    var bytes: [UInt8] {
        var output: [UInt8] = []
        pack(to: &output)
        return output
    }
}
