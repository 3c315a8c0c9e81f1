import MessagePack
import Synchronization

/// A function as a pool worker runs it: by name, a task's items at a time.
struct PoolFunction: Sendable {
    /// The function's registered name.
    let name: String
    /// Runs every item of a task (`arguments`: the task's msgpack array of items, each in the
    /// function's argument form) and reports them through `reporter`, the final frame last.
    let run: nonisolated(nonsending) @Sendable (_ arguments: [UInt8], _ reporter: TaskReporter) async -> Void
}

/// An entry a pool worker can run chunks of: every ``ProcessFunction`` (Process/ cannot name
/// the pool, so the conformance lives here).
protocol PoolCallable {
    /// The function's chunk runner.
    var poolFunction: PoolFunction { get }
}

extension ProcessFunction: PoolCallable {
    var poolFunction: PoolFunction {
        let runner = ChunkRunner<ProcessArguments<repeat each Input>, Output>(
            name: name, body: body, synchronousBody: synchronousBody, encodeOutputs: encodeOutputs,
            invalidArgument: { [name] error, item in ProcessArguments<repeat each Input>.invalidArgument(error, function: name, item: item) })
        return PoolFunction(name: name) { arguments, reporter in await runner.run(arguments, reporter) }
    }
}

/// The pool functions a runtime knows by name, filled by bootstrap with every
/// ``ProcessFunction`` it is given: what a pool worker looks a task's function up in.
///
/// ```swift
/// let functions = PoolFunctions()
/// try functions.register(square.poolFunction)
/// let runner = functions.lookup("square")
/// ```
final class PoolFunctions: Sendable {
    private let functions = Mutex<[String: PoolFunction]>([:])

    init() {}

    /// Adds `function`. Throws ``ProcessError/Code/duplicateEntry`` for a name taken already.
    func register(_ function: PoolFunction) throws(ProcessError) {
        try functions.withLock { (table) throws(ProcessError) in
            if table[function.name] != nil {
                throw ProcessError(.duplicateEntry, "two pool functions are registered as \"\(function.name)\"")
            }
            table[function.name] = function
        }
    }

    /// The function named `name`, if registered.
    func lookup(_ name: String) -> PoolFunction? { functions.withLock { $0[name] } }
    /// Every registered name, sorted.
    var names: [String] { functions.withLock { $0.keys.sorted() } }
}

/// Runs a task's items through one typed function: decodes the items, calls the function on
/// each, and reports the outputs, encoded one frame at a time (one encoder call per frame: a
/// chunk of 25,000 ints would spend more in per-item encoder calls than in the function).
///
/// Generic over ONE arguments type (the function's `ProcessArguments`), not the pack itself:
/// pack expansions inside sequence element types crash the Swift 6.3 compiler.
struct ChunkRunner<Arguments: Decodable & Sendable, Output: Sendable>: Sendable {
    let name: String
    let body: nonisolated(nonsending) @Sendable (Arguments, WorkerContext) async throws -> Output
    /// The function's body when it was given as a synchronous closure: called in a plain loop.
    let synchronousBody: (@Sendable (Arguments) throws -> Output)?
    /// Nil for a `Void` function (its outputs travel as nil).
    let encodeOutputs: (@Sendable ([Output], [Int]) throws -> [UInt8])?
    /// The error of an item whose arguments did not decode (the error, the item's offset).
    let invalidArgument: @Sendable (any Error, Int) -> ProcessError

    /// One frame's worth of answers, collected between flushes.
    private struct Pending {
        /// The task-relative offset of the frame's first item.
        var start = 0
        var outputs: [Output] = []
        /// Frame-relative slots whose item failed (nil on the wire), ascending.
        var failed: [Int] = []
        /// The same failures with their task-relative offsets and errors.
        var failures: [(offset: Int, error: RemoteError)] = []
        var count: Int { outputs.count + failed.count }

        mutating func fail(_ offset: Int, _ error: any Error) {
            failed.append(offset - start)
            failures.append((offset, RemoteError(error)))
        }
    }

    // The commonest case, an Int function of an Int, gets its own copy of the loop: unspecialized,
    // each item pays for generic metadata lookups and value witness calls.
    @_specialize(where Arguments == ProcessArguments<Int>, Output == Int)
    nonisolated(nonsending) func run(_ arguments: [UInt8], _ reporter: TaskReporter) async {
        // Fast path: the whole array at once; if any item does not decode, item by item, so
        // that only the bad ones fail.
        let decoder = MessagePackDecoder()
        let all = ScalarItems.decode(arguments, as: Arguments.self)
            ?? (try? arguments.withUnsafeBytes { try decoder.decode([Arguments].self, from: $0) })
        let each = all == nil ? decodeEach(arguments, decoder) : []
        let count = all?.count ?? each.count
        var pending = Pending()
        pending.outputs.reserveCapacity(count)
        var state = PoolWire.State.done
        var index = 0
        while index < count {
            if reporter.clockWasRead, Task.isCancelled {
                state = .cancelled
                break
            }
            var argument: Arguments?
            if let all {
                argument = all[index]
            } else {
                switch each[index] {
                case .success(let decoded): argument = decoded
                case .failure(let error): pending.fail(index, error)
                }
            }
            if let argument {
                do {
                    if let synchronousBody {
                        pending.outputs.append(try synchronousBody(argument))
                    } else {
                        pending.outputs.append(try await body(argument, reporter.context))
                    }
                } catch {
                    pending.fail(index, error)
                }
            }
            index += 1
            if reporter.itemFinished(), index < count {
                flush(&pending, .partial, reporter)
                pending = Pending(start: index)
            }
        }
        flush(&pending, state, reporter)
    }

    /// The items one by one: an item that does not decode fails alone; when the array itself
    /// cannot be read on (a broken value), every item from there fails.
    private func decodeEach(_ arguments: [UInt8], _ decoder: MessagePackDecoder) -> [Result<Arguments, ProcessError>] {
        arguments.withUnsafeBytes { raw in
            var reader = MessagePackReader(raw)
            guard let count = try? reader.readArrayHeader() else {
                return [.failure(ProcessError(.invalidArgument, "the arguments of a task of \"\(name)\" must be a msgpack array of items"))]
            }
            var items: [Result<Arguments, ProcessError>] = []
            items.reserveCapacity(count)
            for index in 0..<count {
                do {
                    let item = try reader.readRawValue()
                    do {
                        items.append(.success(try decoder.decode(Arguments.self, from: item)))
                    } catch {
                        items.append(.failure(invalidArgument(error, index)))
                    }
                } catch {
                    let broken = invalidArgument(error, index)
                    items.append(contentsOf: repeatElement(.failure(broken), count: count - index))
                    break
                }
            }
            return items
        }
    }

    /// Encodes the pending answers as one outputs array and sends them as one frame.
    private func flush(_ pending: inout Pending, _ state: PoolWire.State, _ reporter: TaskReporter) {
        var failures = pending.failures
        let encoded: [UInt8]
        if let scalars = ScalarItems.encode(pending.outputs, failed: pending.failed) {
            encoded = scalars
        } else if let encodeOutputs {
            do {
                encoded = try encodeOutputs(pending.outputs, pending.failed)
            } catch {
                encoded = encodeOneByOne(pending, encodeOutputs, &failures)
            }
        } else {
            var nils: [UInt8] = []
            nils.reserveCapacity(pending.count + 5)
            nils.packArrayHeader(pending.count)
            for _ in 0..<pending.count { nils.packNil() }
            encoded = nils
        }
        reporter.send(encodedOutputs: encoded, count: pending.count, failures: failures, state: state)
    }

    /// An output that does not encode fails alone: each is encoded by itself (an array of
    /// one, whose one-byte header is dropped), a failed one becomes nil and a failure.
    private func encodeOneByOne(_ pending: Pending, _ encode: @Sendable ([Output], [Int]) throws -> [UInt8],
                                _ failures: inout [(offset: Int, error: RemoteError)]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.packArrayHeader(pending.count)
        var nextFailed = 0, nextOutput = 0
        for slot in 0..<pending.count {
            if nextFailed < pending.failed.count, pending.failed[nextFailed] == slot {
                bytes.packNil()
                nextFailed += 1
                continue
            }
            do {
                bytes += try encode([pending.outputs[nextOutput]], []).dropFirst()
            } catch {
                bytes.packNil()
                failures.append((pending.start + slot, RemoteError(error)))
            }
            nextOutput += 1
        }
        failures.sort { $0.offset < $1.offset }
        return bytes
    }
}

/// Header-level coding of the commonest items, an `Int` or a `Double` argument and result: a
/// chunk of 25,000 ints spends several times the function's own time in `Codable` calls
/// (unspecialized generics, a container per item). Anything else, or an item these do not
/// read, goes the `Codable` way.
enum ScalarItems {
    /// The items as `[Arguments]` when `Arguments` is a one-`Int` or one-`Double`
    /// `ProcessArguments` and every item reads as one; nil otherwise.
    static func decode<Arguments>(_ bytes: [UInt8], as type: Arguments.Type) -> [Arguments]? {
        if Arguments.self == ProcessArguments<Int>.self {
            guard let values = read(bytes, { reader throws(MessagePackError) in Int(try reader.readInt()) }) else { return nil }
            // The same type: the cast reinterprets nothing.
            return unsafeBitCast(values.map { ProcessArguments($0) }, to: [Arguments].self)
        }
        if Arguments.self == ProcessArguments<Double>.self {
            guard let values = read(bytes, { reader throws(MessagePackError) in try reader.readDouble() }) else { return nil }
            return unsafeBitCast(values.map { ProcessArguments($0) }, to: [Arguments].self)
        }
        return nil
    }

    /// The outputs array (nil at each `failed` slot) when `Output` is `Int` or `Double`; nil otherwise.
    static func encode<Output>(_ outputs: [Output], failed: [Int]) -> [UInt8]? {
        if Output.self == Int.self {
            return write(unsafeBitCast(outputs, to: [Int].self), failed: failed) { $0.packInt(Int64($1)) }
        }
        if Output.self == Double.self {
            return write(unsafeBitCast(outputs, to: [Double].self), failed: failed) { $0.packDouble($1) }
        }
        return nil
    }

    private static func read<T>(_ bytes: [UInt8], _ element: (inout MessagePackReader) throws(MessagePackError) -> T) -> [T]? {
        bytes.withUnsafeBytes { read($0, element) }
    }

    /// The elements of the msgpack array `raw`, each read by `element`; nil if any does not read.
    static func read<T>(_ raw: UnsafeRawBufferPointer, _ element: (inout MessagePackReader) throws(MessagePackError) -> T) -> [T]? {
        var reader = MessagePackReader(raw)
        do {
            let count = try reader.readArrayHeader()
            var values: [T] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try element(&reader)) }
            return reader.isAtEnd ? values : nil
        } catch {
            return nil
        }
    }

    static func write<Values: Collection>(_ values: Values, failed: [Int], _ pack: (inout [UInt8], Values.Element) -> Void) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(5 + (values.count + failed.count) * 3)
        bytes.packArrayHeader(values.count + failed.count)
        var next = failed.startIndex
        var slot = 0
        for value in values {
            while next < failed.endIndex, failed[next] == slot { bytes.packNil(); next += 1; slot += 1 }
            pack(&bytes, value)
            slot += 1
        }
        while next < failed.endIndex { bytes.packNil(); next += 1 }
        return bytes
    }
}

// The parent's side of the same: a pool's inputs out, its results in.
extension ScalarItems {
    /// `inputs` as a msgpack array when `Input` is `Int` or `Double`; nil otherwise.
    static func encodeInputs<Input>(_ inputs: ArraySlice<Input>) -> [UInt8]? {
        if Input.self == Int.self {
            return write(unsafeBitCast(inputs, to: ArraySlice<Int>.self), failed: []) { $0.packInt(Int64($1)) }
        }
        if Input.self == Double.self {
            return write(unsafeBitCast(inputs, to: ArraySlice<Double>.self), failed: []) { $0.packDouble($1) }
        }
        return nil
    }

    /// The outputs of a results array with no failed slot when `Output` is `Int` or
    /// `Double`; nil otherwise (or when one does not read as that type).
    static func decodeOutputs<Output>(_ raw: UnsafeRawBufferPointer, as type: Output.Type) -> [Output]? {
        if Output.self == Int.self {
            return read(raw) { reader throws(MessagePackError) in Int(try reader.readInt()) }.map { unsafeBitCast($0, to: [Output].self) }
        }
        if Output.self == Double.self {
            return read(raw) { reader throws(MessagePackError) in try reader.readDouble() }.map { unsafeBitCast($0, to: [Output].self) }
        }
        return nil
    }
}
