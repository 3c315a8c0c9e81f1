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
    /// Called in the child once its handshake is done, before the run loop reads on: where an
    /// entry registers the handlers of frames that must not wait in the mailbox (a pool
    /// worker's cancels, which may arrive in the same read as the welcome).
    let prepare: (@Sendable (ChildSession) -> Void)?
    /// Runs the entry in a child whose handshake is done; returns the exit code.
    let run: @Sendable (ChildSession) async -> Int32

    init(name: String, prepare: (@Sendable (ChildSession) -> Void)? = nil, run: @escaping @Sendable (ChildSession) async -> Int32) {
        self.name = name
        self.prepare = prepare
        self.run = run
    }
}

/// A typed function that runs in a child process: Python's `Process(target=f, args=(...))`.
///
/// It takes any number of `Codable` arguments (none, one, several) and returns a `Codable`
/// value or nothing. The arguments travel to the child in the first frame after the
/// handshake; the result (or the error the function threw, with its type name and message)
/// comes back as the reply (Protocols/PROTOCOL.md, "Conversation").
///
/// ```swift
/// let square = ProcessFunction("square") { (x: Int) in x * x }
/// let label = ProcessFunction("label") { (n: Int, unit: String) in "\(n) \(unit)" }
/// let ping = ProcessFunction("ping") { () in print("pong") }
///
/// @main struct App {
///     static func main() async throws {
///         try await Multiprocessing.bootstrap(functions: [square, label, ping])  // a child runs here
///         print(try await ChildProcess.run(square, 7))            // 49
///         print(try await ChildProcess.run(label, 3, "apples"))   // "3 apples"
///         try await ChildProcess.run(ping)                        // the child prints "pong"
///     }
/// }
/// ```
public struct ProcessFunction<each Input: Codable & Sendable, Output: Sendable>: ProcessEntry {
    public let name: String
    /// Runs where its caller runs (`nonisolated(nonsending)`): a pool worker calls it once per
    /// item, and each hop to the generic executor costs a lock when the task prefers the
    /// child's run loop; the user's closure inside still hops as it always did.
    let body: nonisolated(nonsending) @Sendable (ProcessArguments<repeat each Input>, WorkerContext) async throws -> Output
    /// The reply carrying a result (nil for a function that returns nothing).
    let encodeResult: @Sendable (Output, Envelope) throws -> FrameBody
    /// The result out of a reply, in the parent.
    let decodeResult: @Sendable (FrameBody) throws -> Output
    /// A pool chunk's outputs as one msgpack array: `outputs` in order, with nil at each slot
    /// `failed` names (ascending indices into the array, which has `outputs.count +
    /// failed.count` elements); one encoder call for the chunk. Nil for a `Void` function,
    /// whose outputs are all nil.
    let encodeOutputs: (@Sendable (_ outputs: [Output], _ failed: [Int]) throws -> [UInt8])?
    /// The body of a function given as a synchronous closure, called without an async call's
    /// cost (an async frame and an executor check, about half a trivial pool input's time).
    let synchronousBody: (@Sendable (ProcessArguments<repeat each Input>) throws -> Output)?

    /// A function registered under `name`, which must be unique among the program's entries.
    public init(_ name: String, _ body: @escaping @Sendable (repeat each Input) async throws -> Output) where Output: Codable {
        self.init(name, coding: .codable) { arguments, _ in try await body(repeat each arguments.values) }
    }

    /// A synchronous function (a closure without `await` picks this form): a pool worker calls
    /// it in a plain loop, the cheapest way through a chunk of trivial inputs.
    public init(_ name: String, _ body: @escaping @Sendable (repeat each Input) throws -> Output) where Output: Codable {
        let synchronous: @Sendable (ProcessArguments<repeat each Input>) throws -> Output = { arguments in try body(repeat each arguments.values) }
        self.init(name, coding: .codable, synchronous: synchronous) { arguments, _ in try synchronous(arguments) }
    }

    /// A function that also talks to other workers through its ``WorkerContext`` (its id,
    /// requests to other workers by id), given after the arguments.
    public init(_ name: String, _ body: @escaping @Sendable (repeat each Input, WorkerContext) async throws -> Output) where Output: Codable {
        self.init(name, coding: .codable) { arguments, context in
            try await bind(body, repeat each arguments.values, context)()
        }
    }

    /// A function that returns nothing: the parent's `run` returns once it is done.
    public init(_ name: String, _ body: @escaping @Sendable (repeat each Input) async throws -> Void) where Output == Void {
        self.init(name, coding: .nothing) { arguments, _ in try await body(repeat each arguments.values) }
    }

    /// A function that returns nothing and talks to other workers through its ``WorkerContext``.
    public init(_ name: String, _ body: @escaping @Sendable (repeat each Input, WorkerContext) async throws -> Void) where Output == Void {
        self.init(name, coding: .nothing) { arguments, context in
            try await bind(body, repeat each arguments.values, context)()
        }
    }

    private init(_ name: String, coding: ResultCoding<Output>, synchronous: (@Sendable (ProcessArguments<repeat each Input>) throws -> Output)? = nil,
                 _ body: nonisolated(nonsending) @escaping @Sendable (ProcessArguments<repeat each Input>, WorkerContext) async throws -> Output) {
        self.name = name
        self.body = body
        self.synchronousBody = synchronous
        self.encodeResult = coding.encode
        self.decodeResult = coding.decode
        self.encodeOutputs = coding.encodeOutputs
    }

    public var definition: EntryDefinition {
        EntryDefinition(name: name) { session in
            let reply: FrameBody
            do {
                // Every read after the handshake goes through the run loop, which may already
                // have read the arguments into the mailbox.
                guard let loop = session.runLoop, let argument = try await loop.nextMailboxFrame() else {
                    return ChildExitCode.channelClosed
                }
                guard argument.envelope.kind == .request else {
                    session.log("expected the arguments as a request, got \(argument.envelope.kind)")
                    return ChildExitCode.protocolError
                }
                let arguments = try ProcessArguments<repeat each Input>.decode(argument, for: name)
                let output = try await body(arguments, WorkerContext(session: session))
                reply = try encodeResult(output, argument.envelope.answer(.reply))
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

/// A closure that calls `function` with `arguments`: a function whose parameter pack is
/// followed by another parameter (the context) can only be called this way in Swift 6.3 (a
/// direct call does not type-check; an `async` helper that calls it miscompiles).
private func bind<each Argument: Sendable, Result>(
    _ function: @escaping @Sendable (repeat each Argument) async throws -> Result, _ arguments: repeat each Argument
) -> @Sendable () async throws -> Result {
    { try await function(repeat each arguments) }
}

/// How a function's result travels: as its msgpack value, or as nil for `Void`.
private struct ResultCoding<Output: Sendable> {
    let encode: @Sendable (Output, Envelope) throws -> FrameBody
    let decode: @Sendable (FrameBody) throws -> Output
    let encodeOutputs: (@Sendable ([Output], [Int]) throws -> [UInt8])?
}

extension ResultCoding where Output: Codable {
    static var codable: Self {
        Self(encode: { output, envelope in try FrameBody(envelope, encoding: output) },
             decode: { body in try body.decodePayload(Output.self) },
             encodeOutputs: { outputs, failed in
                 guard !failed.isEmpty else { return try MessagePackEncoder().encode(outputs) }
                 var slots: [Output?] = []
                 slots.reserveCapacity(outputs.count + failed.count)
                 var next = failed.startIndex
                 for output in outputs {
                     while next < failed.endIndex, failed[next] == slots.count { slots.append(nil); next += 1 }
                     slots.append(output)
                 }
                 while next < failed.endIndex { slots.append(nil); next += 1 }
                 return try MessagePackEncoder().encode(slots)
             })
    }
}

extension ResultCoding where Output == Void {
    /// Nil on the wire; whatever a peer sends back is accepted as "done".
    static var nothing: Self {
        Self(encode: { _, envelope in try FrameBody(envelope, encoding: Int?.none) },
             decode: { _ in () },
             encodeOutputs: nil)
    }
}

/// A function's arguments as one value, as they travel (Protocols/PROTOCOL.md,
/// "Conversation"): none as nil, one as its own value (so a one-argument function's frame is
/// unchanged), several as one msgpack array in parameter order.
///
/// A `ProcessPool` of a function of two or more arguments takes its inputs as these:
///
/// ```swift
/// let add = ProcessFunction("add") { (a: Int, b: Int) in a + b }
/// let pool = try await ProcessPool(add, workers: 2)       // Input == ProcessArguments<Int, Int>
/// let sums = try await pool.map([ProcessArguments(1, 2), ProcessArguments(3, 4)])   // [3, 7]
/// let (a, b) = ProcessArguments(1, 2).values               // (1, 2)
/// ```
public struct ProcessArguments<each Value: Codable & Sendable>: Codable, Sendable {
    /// The arguments, in parameter order.
    public let values: (repeat each Value)

    /// The arguments `values`, in parameter order.
    public init(_ values: repeat each Value) { self.values = (repeat each values) }

    static var count: Int {
        var count = 0
        for _ in repeat (each Value).self { count += 1 }
        return count
    }

    /// The arguments out of a request for the function `name`; a frame of another shape is a
    /// ``ProcessError/Code/invalidArgument`` naming the function and what it takes.
    static func decode(_ request: FrameBody, for name: String) throws -> Self {
        do {
            return try request.decodePayload(Self.self)
        } catch {
            throw invalidArgument(error, function: name)
        }
    }

    /// The ``ProcessError/Code/invalidArgument`` for arguments of `function` that did not
    /// decode (`error`), naming what it takes and, in a pool task, the item's offset.
    static func invalidArgument(_ error: any Error, function name: String, item: Int? = nil) -> ProcessError {
        let takes = count == 0 ? "no argument (nil)" : count == 1 ? "one argument" : "\(count) arguments (a msgpack array)"
        let which = item.map { "item \($0): " } ?? ""
        return ProcessError(.invalidArgument, "\(which)\"\(name)\" takes \(takes) of types (\(signature)): \(error)")
    }

    private static var signature: String {
        var names: [String] = []
        for type in repeat (each Value).self { names.append("\(type)") }
        return names.joined(separator: ", ")
    }

    /// Reads the wire form: nil, the value itself, or an array of exactly as many elements.
    public init(from decoder: any Decoder) throws {
        switch Self.count {
        case 0:
            let container = try decoder.singleValueContainer()
            guard container.decodeNil() else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected nil: the function takes no argument")
            }
            values = (repeat try (each Value)(from: decoder))
        case 1:
            values = (repeat try (each Value)(from: decoder))
        default:
            var container = try decoder.unkeyedContainer()
            if let given = container.count, given != Self.count {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an array of \(Self.count) arguments, got \(given)")
            }
            values = (repeat try container.decode((each Value).self))
        }
    }

    /// Writes the wire form: nil, the value itself, or an array.
    public func encode(to encoder: any Encoder) throws {
        switch Self.count {
        case 0:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case 1:
            for value in repeat each values { try value.encode(to: encoder) }
        default:
            var container = encoder.unkeyedContainer()
            for value in repeat each values { try container.encode(value) }
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
/// // let tally = try await ChildProcess.start(Tally.self)   // named "Tally-1"
/// // let sum: Int = try await tally.request(5)
/// // tally.closeMailbox()                                  // its loop ends: it returns
/// ```
public protocol Worker: Sendable {
    /// The name the child looks the worker up by; the type's name by default.
    static var entryName: String { get }
    init()
    /// Runs until the mailbox ends (the parent called ``ChildProcess/closeMailbox()``) or it
    /// returns.
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
