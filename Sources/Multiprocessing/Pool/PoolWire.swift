import MessagePack
import NIOCore

/// The pool protocol's frames (Protocols/PROTOCOL.md, "Pool"): kinds 48...63, capability
/// "pool". The supervisor writes tasks, initializers and cancels straight into a worker's
/// outbound buffer; a worker answers each task with results frames, which the supervisor
/// splits in place without decoding an output.
///
/// Every pool frame has the common envelope `[kind, flags, source, destination, correlation]`
/// whose correlation is the task id (chosen by the supervisor, non-zero, unique among that
/// worker's tasks).
enum PoolWire {
    /// The kinds the pool owns.
    static let kinds: ClosedRange<UInt8> = 48...63
    /// Supervisor → worker: `[function: str, arguments: array]`, one element per item.
    static let task = Envelope.Kind(rawValue: 48)
    /// Worker → supervisor: `[offset: uint, outputs: array, failures: array, state: uint]`.
    static let results = Envelope.Kind(rawValue: 49)
    /// Supervisor → worker, payload nil: stop that task before its next item.
    static let cancel = Envelope.Kind(rawValue: 50)
    /// Supervisor → worker: a task of one item, the initializer, answered like a task.
    static let initialize = Envelope.Kind(rawValue: 51)
    /// What a pool worker announces in its hello.
    static let capability = "pool"
    /// The built-in entry a pool worker runs.
    static let workerEntry = "mp.pool.worker"

    /// The kinds' names, as PROTOCOL.md's "Pool kinds" table gives them.
    static func name(_ kind: Envelope.Kind) -> String? {
        switch kind.rawValue {
        case 48: "poolTask"
        case 49: "poolResults"
        case 50: "poolCancel"
        case 51: "poolInitialize"
        default: nil
        }
    }

    /// What a results frame says of the task after its items.
    enum State: UInt8, Sendable {
        /// More frames of this task follow.
        case partial = 0
        /// Every item of the task is answered.
        case done = 1
        /// Cancelled: the items after the last answered one were not run.
        case cancelled = 2
    }

    /// A results frame's payload, split: the outputs stay encoded.
    struct Results: Sendable {
        /// The task-relative index of the first output.
        let offset: Int
        /// The msgpack array of the outputs of items `offset`, `offset + 1`, ... (nil in a
        /// failed item's slot): a slice of the payload.
        let outputs: ByteBuffer
        /// How many outputs `outputs` holds.
        let count: Int
        /// The failed items of this frame, by their task-relative offset, ascending as sent.
        let failures: [(offset: Int, error: RemoteError)]
        let state: State
    }

    /// A pool payload that is not of the documented shape: where (the byte offset in the
    /// payload) and what was expected there.
    struct Malformed: Error, CustomStringConvertible, Equatable {
        /// The byte offset in the payload where the problem was found.
        let offset: Int
        /// What the payload should have held there.
        let expected: String
        /// What was found instead, or the reader's error.
        let found: String

        var description: String { "a pool results payload at byte \(offset): expected \(expected); \(found)" }
    }

    // MARK: writing (supervisor → worker)

    /// Appends one whole frame (length prefix included): envelope `[48, 0, 0, worker, id]`,
    /// payload `[function, arguments]` where `encodedArguments` IS that msgpack array already.
    static func appendTask(to buffer: inout ByteBuffer, id: UInt64, worker: UInt64, function: String,
                           encodedArguments: UnsafeRawBufferPointer) {
        appendCall(task, to: &buffer, id: id, worker: worker, function: function, encodedArguments: encodedArguments)
    }

    /// Appends one whole `initialize` frame: as ``appendTask(to:id:worker:function:encodedArguments:)``
    /// with kind 51; `encodedArguments` is an array of exactly one item.
    static func appendInitialize(to buffer: inout ByteBuffer, id: UInt64, worker: UInt64, function: String,
                                 encodedArguments: UnsafeRawBufferPointer) {
        appendCall(initialize, to: &buffer, id: id, worker: worker, function: function, encodedArguments: encodedArguments)
    }

    /// Appends one whole `cancel` frame for the task `id`: envelope `[50, 0, 0, worker, id]`, payload nil.
    static func appendCancel(to buffer: inout ByteBuffer, id: UInt64, worker: UInt64) {
        let start = beginFrame(&buffer, cancel, source: Envelope.supervisor, destination: worker, correlation: id)
        buffer.packNil()
        endFrame(&buffer, start)
    }

    private static func appendCall(_ kind: Envelope.Kind, to buffer: inout ByteBuffer, id: UInt64, worker: UInt64,
                                   function: String, encodedArguments: UnsafeRawBufferPointer) {
        let start = beginFrame(&buffer, kind, source: Envelope.supervisor, destination: worker, correlation: id)
        buffer.packArrayHeader(2)
        buffer.packString(function)
        buffer.packRaw(encodedArguments)
        endFrame(&buffer, start)
    }

    /// Writes a length placeholder and the envelope; returns where the frame starts.
    private static func beginFrame(_ buffer: inout ByteBuffer, _ kind: Envelope.Kind, source: UInt64,
                                   destination: UInt64, correlation: UInt64) -> Int {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))   // the length, patched by endFrame
        packEnvelope(&buffer, kind, source: source, destination: destination, correlation: correlation)
        return start
    }

    private static func endFrame(_ buffer: inout ByteBuffer, _ start: Int) {
        buffer.setInteger(UInt32(buffer.writerIndex - start - 4), at: start)
    }

    private static func packEnvelope(_ output: inout some MessagePackOutput, _ kind: Envelope.Kind, source: UInt64,
                                     destination: UInt64, correlation: UInt64) {
        output.packArrayHeader(Envelope.fieldCount)
        output.packUInt(kind.rawValue)
        output.packUInt(0)
        output.packUInt(source)
        output.packUInt(destination)
        output.packUInt(correlation)
    }

    // MARK: writing (worker → supervisor)

    /// Appends one whole results frame (length prefix included): envelope `[49, 0, worker, 0,
    /// id]`, payload `[offset, outputs, failures, state]` where `encodedOutputs` IS the outputs
    /// array already and each failure is `[offset, {"type", "message"}]`.
    static func appendResults(to bytes: inout [UInt8], id: UInt64, worker: UInt64, offset: Int,
                              encodedOutputs: UnsafeRawBufferPointer, failures: [(offset: Int, error: RemoteError)],
                              state: State) {
        let start = bytes.count
        bytes.packBigEndian(UInt32(0))   // the length, patched below
        packEnvelope(&bytes, results, source: worker, destination: Envelope.supervisor, correlation: id)
        bytes.packArrayHeader(4)
        bytes.packUInt(UInt64(offset))
        bytes.packRaw(encodedOutputs)
        bytes.packArrayHeader(failures.count)
        for failure in failures {
            bytes.packArrayHeader(2)
            bytes.packUInt(UInt64(failure.offset))
            // RemoteError's Codable form, key for key.
            bytes.packMapHeader(2)
            bytes.packString("type")
            bytes.packString(failure.error.typeName)
            bytes.packString("message")
            bytes.packString(failure.error.message)
        }
        bytes.packUInt(UInt64(state.rawValue))
        let length = UInt32(bytes.count - start - 4)
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: start, as: UInt32.self) }
    }

    // MARK: parsing (the supervisor reads results in place)

    /// Splits a results payload. Anything but `[offset, outputs, failures, state]` (elements
    /// after the fourth are ignored: a later version's), a failure outside the frame's items,
    /// or a state other than 0...2 is a ``Malformed`` naming the byte offset and what was expected.
    static func parseResults(_ payload: ByteBuffer) throws(Malformed) -> Results {
        let parsed = payload.withUnsafeReadableBytes { raw -> Result<Results, Malformed> in
            var reader = MessagePackReader(raw)
            do throws(Malformed) {
                return .success(try readResults(&reader, payload))
            } catch {
                return .failure(error)
            }
        }
        return try parsed.get()
    }

    private static func readResults(_ reader: inout MessagePackReader, _ payload: ByteBuffer) throws(Malformed) -> Results {
        let elements = try read(&reader, "an array [offset, outputs, failures, state]") { r throws(MessagePackError) in try r.readArrayHeader() }
        guard elements >= 4 else {
            throw Malformed(offset: 0, expected: "an array of 4 elements [offset, outputs, failures, state]", found: "found \(elements) elements")
        }
        let offset = try read(&reader, "the offset, an unsigned integer") { r throws(MessagePackError) in try r.readInteger(Int.self) }
        guard offset >= 0 else { throw Malformed(offset: 1, expected: "the offset, an unsigned integer", found: "found \(offset)") }
        let outputsStart = reader.offset
        let count = try read(&reader, "the outputs, an array") { r throws(MessagePackError) in try r.readArrayHeader() }
        for _ in 0..<count {
            try read(&reader, "an output (one msgpack value)") { r throws(MessagePackError) in try r.skipValue() }
        }
        let outputs = payload.getSlice(at: payload.readerIndex + outputsStart, length: reader.offset - outputsStart)!
        let failureCount = try read(&reader, "the failures, an array") { r throws(MessagePackError) in try r.readArrayHeader() }
        var failures: [(offset: Int, error: RemoteError)] = []
        failures.reserveCapacity(failureCount)
        for _ in 0..<failureCount {
            let at = reader.offset
            let pair = try read(&reader, "a failure [offset, error]") { r throws(MessagePackError) in try r.readArrayHeader() }
            guard pair == 2 else { throw Malformed(offset: at, expected: "a failure [offset, error]", found: "found an array of \(pair)") }
            let item = try read(&reader, "a failure's offset, an unsigned integer") { r throws(MessagePackError) in try r.readInteger(Int.self) }
            guard item >= offset, item < offset + count else {
                throw Malformed(offset: at, expected: "a failure's offset within this frame's items \(offset)..<\(offset + count)", found: "found \(item)")
            }
            let errorStart = reader.offset
            let raw = try read(&reader, "a failure's error, a map {\"type\", \"message\"}") { r throws(MessagePackError) in try r.readRawValue() }
            do {
                failures.append((item, try MessagePackDecoder().decode(RemoteError.self, from: raw)))
            } catch {
                throw Malformed(offset: errorStart, expected: "a failure's error, a map {\"type\", \"message\"}", found: "\(error)")
            }
        }
        let stateStart = reader.offset
        let code = try read(&reader, "the state, 0, 1 or 2") { r throws(MessagePackError) in try r.readInteger(UInt8.self) }
        guard let state = State(rawValue: code) else {
            throw Malformed(offset: stateStart, expected: "the state, 0, 1 or 2", found: "found \(code)")
        }
        for _ in 4..<elements {
            try read(&reader, "an element of a later version (any value)") { r throws(MessagePackError) in try r.skipValue() }
        }
        guard reader.isAtEnd else {
            throw Malformed(offset: reader.offset, expected: "the end of the payload", found: "\(payload.readableBytes - reader.offset) more bytes")
        }
        return Results(offset: offset, outputs: outputs, count: count, failures: failures, state: state)
    }

    /// Runs one read; its error becomes a ``Malformed`` at the reader's offset naming `expected`.
    private static func read<T>(_ reader: inout MessagePackReader, _ expected: String,
                                _ body: (inout MessagePackReader) throws(MessagePackError) -> T) throws(Malformed) -> T {
        do {
            return try body(&reader)
        } catch {
            throw Malformed(offset: error.offset, expected: expected, found: "\(error)")
        }
    }
}
