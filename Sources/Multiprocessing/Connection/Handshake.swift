import MessagePack

/// The wire protocol this build speaks (Protocols/PROTOCOL.md).
///
/// ```swift
/// let hello = Hello(pid: getpid(), entry: "square")   // version: WireProtocol.version
/// ```
public enum WireProtocol {
    /// The highest protocol version this build speaks. Every later version keeps speaking
    /// version 1, so two peers always agree on the lower of their two versions.
    public static let version = 1
    /// The oldest version a peer may announce.
    public static let minimumVersion = 1
}

/// The payload of a child's first frame (kind ``Envelope/Kind/hello``): who it is and what it speaks.
///
/// Sent before anything else, with source and destination 0 (the child has no id yet); the
/// child then waits for a ``Welcome`` or an error. On the wire:
/// `{"version": 1, "pid": 4242, "entry": "square", "capabilities": []}`.
///
/// ```swift
/// try writer.append(Envelope(.hello, from: 0, to: Envelope.supervisor),
///                   payload: Hello(pid: getpid(), entry: "square"))
/// ```
public struct Hello: Codable, Hashable, Sendable {
    /// The highest protocol version the child speaks.
    public var version: Int
    /// The child's process id, as it sees it.
    public var pid: Int32
    /// The entry the child runs (its `MP_ENTRY`), or "" for an executable without entries.
    public var entry: String
    /// Names of the optional features the child supports, each a later addition to the protocol.
    public var capabilities: [String]

    public init(version: Int = WireProtocol.version, pid: Int32, entry: String, capabilities: [String] = []) {
        self.version = version
        self.pid = pid
        self.entry = entry
        self.capabilities = capabilities
    }
}

/// The supervisor's answer to a ``Hello`` (kind ``Envelope/Kind/welcome``): the agreed version,
/// the child's id, the agreed capabilities and the largest frame the supervisor accepts.
///
/// On the wire: `{"version": 1, "id": 3, "capabilities": [], "maxFrameSize": 67108864}`.
///
/// ```swift
/// do {
///     let welcome = try Welcome(answering: hello, id: 3, capabilities: ["example.feature"])
///     try writer.append(Envelope(.welcome, from: Envelope.supervisor, to: 3), payload: welcome)
/// } catch let refusal as RemoteError {
///     try writer.append(Envelope(.error, from: Envelope.supervisor, to: 0), payload: refusal)   // then close
/// }
/// ```
public struct Welcome: Codable, Hashable, Sendable {
    /// The version both sides speak from now on: the lower of the two.
    public var version: Int
    /// The child's worker id: its source in every later frame, and its address.
    public var id: UInt64
    /// The capabilities both sides announced, in the order of the hello.
    public var capabilities: [String]
    /// The largest frame body the supervisor accepts from this child; larger frames disconnect it.
    public var maxFrameSize: Int

    public init(version: Int = WireProtocol.version, id: UInt64, capabilities: [String] = [],
                maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) {
        self.version = version
        self.id = id
        self.capabilities = capabilities
        self.maxFrameSize = maxFrameSize
    }

    /// The welcome that answers `hello`: the lower of the two versions and the capabilities
    /// both support. Throws ``RemoteError/unsupportedVersion(_:)`` (send it as an error
    /// envelope, then close) when the child speaks no version this supervisor does.
    public init(answering hello: Hello, id: UInt64, capabilities supported: [String] = [],
                maxFrameSize: Int = MessagePackLimits.defaultMaxFrameSize) throws(RemoteError) {
        guard hello.version >= WireProtocol.minimumVersion else { throw .unsupportedVersion(hello.version) }
        let supported = Set(supported)
        self.init(version: min(hello.version, WireProtocol.version), id: id,
                  capabilities: hello.capabilities.filter(supported.contains), maxFrameSize: maxFrameSize)
    }
}

/// The payload of a ``Envelope/Kind/goodbye`` frame: the sender will send nothing more on this
/// channel. A child sends it when its entry has returned, with the status it exits with.
///
/// On the wire: `{"status": 0}`.
///
/// ```swift
/// try writer.append(Envelope(.goodbye, from: myID, to: Envelope.supervisor), payload: Goodbye(status: 0))
/// ```
public struct Goodbye: Codable, Hashable, Sendable {
    /// The exit status the sender is about to exit with; 0 from the supervisor.
    public var status: Int32

    public init(status: Int32 = 0) { self.status = status }
}

/// An error that crossed a process boundary: its type's name and its message, the payload of
/// every ``Envelope/Kind/error`` frame.
///
/// Whoever awaits a request that failed in another process gets one of these. On the wire:
/// `{"type": "Square.InputError", "message": "input 7 is out of range"}`; protocol errors
/// have type names starting with `ProtocolError.`.
///
/// ```swift
/// do { try run(job) } catch {
///     try writer.append(request.answer(.error), payload: RemoteError(error))
/// }
/// ```
public struct RemoteError: Error, Codable, Hashable, Sendable, CustomStringConvertible {
    /// The thrown error's type, as `String(reflecting:)` names it (`Module.Type`), or a
    /// Python exception's `module.QualifiedName`.
    public var typeName: String
    /// The error's description.
    public var message: String

    enum CodingKeys: String, CodingKey {
        case typeName = "type"
        case message
    }

    public init(typeName: String, message: String) {
        self.typeName = typeName
        self.message = message
    }

    /// A local error as it travels: a `RemoteError` stays as it is (so errors pass through
    /// several processes unchanged), any other is named by its type and description.
    public init(_ error: any Error) {
        if let remote = error as? RemoteError {
            self = remote
        } else {
            self.init(typeName: String(reflecting: type(of: error)), message: String(describing: error))
        }
    }

    public var description: String { "\(typeName): \(message)" }

    /// Whether this reports a protocol problem rather than an error thrown by user code.
    public var isProtocolError: Bool { typeName.hasPrefix("ProtocolError.") }

    /// The answer to a frame whose kind the receiver does not know.
    public static func unknownKind(_ kind: Envelope.Kind) -> RemoteError {
        RemoteError(typeName: "ProtocolError.unknownKind",
                    message: "kind \(kind.rawValue) is not known to this peer (protocol version \(WireProtocol.version))")
    }

    /// The answer to a hello whose version the supervisor does not speak; the channel closes.
    public static func unsupportedVersion(_ version: Int) -> RemoteError {
        RemoteError(typeName: "ProtocolError.unsupportedVersion",
                    message: "protocol version \(version) is not supported; this peer speaks \(WireProtocol.minimumVersion) to \(WireProtocol.version)")
    }

    /// The answer to a frame whose body is not an envelope followed by a payload.
    public static func malformedBody(_ error: FrameBodyError) -> RemoteError {
        RemoteError(typeName: "ProtocolError.malformedBody", message: error.description)
    }

    /// The answer to a frame addressed to a worker id nobody has (any more).
    public static func unknownDestination(_ id: UInt64) -> RemoteError {
        RemoteError(typeName: "ProtocolError.unknownDestination", message: "no worker has id \(id)")
    }

    /// The answer to a frame whose source is not the id of the channel it came on.
    public static func wrongSource(_ source: UInt64, expected: UInt64) -> RemoteError {
        RemoteError(typeName: "ProtocolError.wrongSource", message: "a frame from worker \(expected) claims source \(source)")
    }

    /// Sent, when possible, before a channel is closed for a frame above its maximum size.
    public static func frameTooLarge(_ length: Int, maximum: Int) -> RemoteError {
        RemoteError(typeName: "ProtocolError.frameTooLarge", message: "a frame of \(length) bytes is above the maximum of \(maximum)")
    }
}
