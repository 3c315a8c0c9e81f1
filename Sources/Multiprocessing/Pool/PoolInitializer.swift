import MessagePack

/// A function a pool runs once in each worker before the worker's first task, with the
/// arguments given here: Python's `Pool(initializer=f, initargs=(...))`.
///
/// The arguments are encoded when it is made, so a value that does not encode is an error
/// here, not in every worker. The function must be registered with bootstrap like any other.
///
/// ```swift
/// let connect = ProcessFunction("connect") { (path: String) in Database.open(path) }
/// try await Multiprocessing.bootstrap(functions: [connect, lookup])
/// let options = PoolOptions(initializer: try PoolInitializer(connect, "/tmp/db"))
/// let pool = try await ProcessPool(lookup, workers: 4, options: options)
/// ```
public struct PoolInitializer: Sendable {
    /// The function's registered name.
    let name: String
    /// A msgpack array of ONE item, the arguments in their wire form: the `initialize` frame's
    /// arguments as they are (PROTOCOL.md, "Pool").
    let encodedArguments: [UInt8]

    /// Runs `function` with `arguments` in each worker. Throws the encoder's error when an
    /// argument does not encode.
    public init<each A: Codable & Sendable>(_ function: ProcessFunction<repeat each A, Void>, _ arguments: repeat each A) throws {
        name = function.name
        var bytes: [UInt8] = []
        bytes.packArrayHeader(1)
        bytes += try MessagePackEncoder().encode(ProcessArguments(repeat each arguments))
        encodedArguments = bytes
    }
}
