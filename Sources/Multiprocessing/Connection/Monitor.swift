/// The payload of a `monitor` request: the id of the worker to watch (Erlang's `monitor`).
public struct Monitor: Codable, Hashable, Sendable {
    public var id: UInt64
    public init(id: UInt64) { self.id = id }
}

/// The payload of a `down` message: a monitored worker ended, and how. A worker that was
/// already gone when the monitor was asked for is reported at once, with status `unknown`.
public struct Down: Codable, Hashable, Sendable {
    public var id: UInt64
    public var status: TerminationStatus
    public init(id: UInt64, status: TerminationStatus) {
        self.id = id
        self.status = status
    }
}

/// On the wire a status is a one-entry map a Python peer reads as a dict:
/// `{"exited": 3}`, `{"signaled": 9}`, `{"unknown": nil}` or, for a remote worker whose
/// connection ended without its goodbye, `{"disconnected": nil}`.
extension TerminationStatus: Codable {
    private enum Key: String, CodingKey { case exited, signaled, unknown, disconnected }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        if let code = try c.decodeIfPresent(Int32.self, forKey: .exited) {
            self = .exited(code)
        } else if let signal = try c.decodeIfPresent(Int32.self, forKey: .signaled) {
            self = .signaled(Signal(rawValue: signal))
        } else if c.contains(.unknown) {
            self = .unknown
        } else if c.contains(.disconnected) {
            self = .disconnected
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "a status is {\"exited\": code}, {\"signaled\": number} {\"unknown\": nil} or {\"disconnected\": nil}"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case .exited(let code): try c.encode(code, forKey: .exited)
        case .signaled(let signal): try c.encode(signal.rawValue, forKey: .signaled)
        case .unknown: try c.encodeNil(forKey: .unknown)
        case .disconnected: try c.encodeNil(forKey: .disconnected)
        }
    }
}
