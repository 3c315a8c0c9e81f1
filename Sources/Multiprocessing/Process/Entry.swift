import MessagePack

/// Something a child process can run, found by name in every process: a ``ProcessFunction``
/// or a ``Worker`` type. Register every entry once, at the top of `main`, with
/// ``Multiprocessing/bootstrap(functions:workers:)``.
public protocol ProcessEntry: Sendable {
    /// The name the child looks the entry up by.
    var name: String { get }
    /// How a child runs it.
    var definition: EntryDefinition { get }
}

/// What a child does with an entry: opaque, built by ``ProcessFunction`` and ``Worker``.
public struct EntryDefinition: Sendable {
    let name: String
    /// Runs the entry in a child whose handshake is done; returns the exit code.
    let run: @Sendable (ChildSession) async -> Int32
}

/// A typed function that runs in a child process: Python's `Process(target=f, args=(x,))`.
///
/// The argument travels to the child in the first frame after the handshake; the result (or
/// the error the function threw, with its type name and message) comes back as the reply.
///
/// ```swift
/// let square = ProcessFunction("square") { (x: Int) in x * x }
///
/// @main struct App {
///     static func main() async throws {
///         try Multiprocessing.bootstrap(functions: [square])   // a child runs `square` here
///         print(try await ChildProcess.run(square, 7))          // 49
///     }
/// }
/// ```
public struct ProcessFunction<Input: Codable & Sendable, Output: Codable & Sendable>: ProcessEntry {
    public let name: String
    let body: @Sendable (Input, WorkerContext) async throws -> Output

    /// A function registered under `name`, which must be unique among the program's entries.
    public init(_ name: String, _ body: @escaping @Sendable (Input) async throws -> Output) {
        self.name = name
        self.body = { input, _ in try await body(input) }
    }

    /// A function that also talks to other workers through its ``WorkerContext`` (its id,
    /// requests to other workers by id).
    public init(_ name: String, _ body: @escaping @Sendable (Input, WorkerContext) async throws -> Output) {
        self.name = name
        self.body = body
    }

    public var definition: EntryDefinition {
        EntryDefinition(name: name) { session in
            let reply: FrameBody
            do {
                // Every read after the handshake goes through the run loop, which may already
                // have read the argument into the mailbox.
                guard let loop = session.runLoop, let argument = try await loop.nextMailboxFrame() else {
                    return ChildExitCode.channelClosed
                }
                guard argument.envelope.kind == .request else {
                    session.log("expected the argument as a request, got \(argument.envelope.kind)")
                    return ChildExitCode.protocolError
                }
                let input = try argument.decodePayload(Input.self)
                let output = try await body(input, WorkerContext(session: session))
                reply = try FrameBody(argument.envelope.answer(.reply), encoding: output)
                do {
                    try session.send(reply)
                } catch {
                    // The caller then gets a RemoteError naming messageTooLarge, not MessagePack's.
                    throw ProcessError.sizeChecked(error, "a result", limit: session.maxFrameSize)
                }
                return 0
            } catch let error as ChildSession.Closed {
                _ = error
                return ChildExitCode.channelClosed
            } catch {
                // The caller gets the error; the process exits with 1, as Python's does.
                try? session.send(FrameBody(Envelope(.error, from: session.id, to: Envelope.supervisor, correlation: ChildSession.argumentCorrelation),
                                            encoding: RemoteError(error)))
                return 1
            }
        }
    }
}

/// A long-lived, addressable worker with a mailbox: Erlang's process, Python's `Process`
/// subclass with a `run` method.
///
/// ```swift
/// struct Tally: Worker {
///     func run(_ context: WorkerContext) async throws {
///         var total = 0
///         for try await request in context.requests(Int.self) {
///             total += request.value
///             try request.reply(total)
///         }
///     }
/// }
/// // let tally = try await ChildProcess.start(Tally.self)
/// // let sum: Int = try await tally.request(5)
/// ```
public protocol Worker: Sendable {
    /// The name the child looks the worker up by; the type's name by default.
    static var entryName: String { get }
    init()
    /// Runs until the mailbox ends (the parent closed the channel) or it returns.
    func run(_ context: WorkerContext) async throws
}

extension Worker {
    public static var entryName: String { _typeName(Self.self, qualified: false) }

    static var definition: EntryDefinition {
        EntryDefinition(name: entryName) { session in
            let context = WorkerContext(session: session)
            do {
                try await Self().run(context)
                return 0
            } catch {
                session.log("\(entryName) failed: \(RemoteError(error))")
                return 1
            }
        }
    }
}

/// Exit codes a child uses for failures of the runtime itself (not of its entry).
public enum ChildExitCode {
    /// The entry name is not registered in the child (EX_CONFIG of sysexits.h).
    public static let unknownEntry: Int32 = 78
    /// The handshake or a frame broke the protocol (EX_PROTOCOL).
    public static let protocolError: Int32 = 76
    /// The channel to the supervisor closed before the work was done.
    public static let channelClosed: Int32 = 75
    /// The supervisor was already gone when the child started.
    public static let orphaned: Int32 = 74
}
