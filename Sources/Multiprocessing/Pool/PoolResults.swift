import MessagePack
import NIOCore

/// The results of ``ProcessPool/imap(_:chunkSize:)-(Sequence,_)`` (input order) or
/// ``ProcessPool/imapUnordered(_:chunkSize:)-(Sequence,_)`` (finishing order), as they come.
/// Each iteration is one run over the inputs: it reads them lazily, at most a bounded number
/// ahead of what the loop consumed (four chunks per worker), so memory stays flat however long
/// the input is. A failed input throws its ``PoolError`` (``imap``: at its position) and ends
/// the iteration; leaving the loop early stops every input not yet started.
///
/// ```swift
/// for try await line in pool.imap(hugeFile.lines, chunkSize: 64) { print(line) }
/// ```
public struct PoolResults<Output: Sendable>: AsyncSequence, Sendable {
    public typealias Element = Output
    let pool: PoolResultsSource<Output>

    public func makeAsyncIterator() -> Iterator { Iterator(run: PoolResultsRun(pool)) }

    /// One run over the inputs.
    public struct Iterator: AsyncIteratorProtocol {
        let run: PoolResultsRun<Output>

        public mutating func next() async throws -> Output? { try await run.next() }
    }
}

/// The inputs of an imap, their type erased: each run gets a feeder that encodes the next
/// chunk of them.
struct PoolInputs<Input: Codable & Sendable>: Sendable {
    let makeFeeder: @Sendable () -> PoolFeeder

    init<S: Sequence & Sendable>(_ inputs: S) where S.Element == Input {
        makeFeeder = {
            let box = IteratorBox(inputs.makeIterator())
            return PoolFeeder { size in
                var chunk: [Input] = []
                while chunk.count < size, let input = box.iterator.next() { chunk.append(input) }
                return chunk.isEmpty ? nil : (try MessagePackEncoder().encode(chunk), chunk.count)
            }
        }
    }

    init<S: AsyncSequence & Sendable>(_ inputs: S) where S.Element == Input {
        makeFeeder = {
            let box = IteratorBox(inputs.makeAsyncIterator())
            return PoolFeeder { size in
                var chunk: [Input] = []
                while chunk.count < size, let input = try await box.nextAsync() { chunk.append(input) }
                return chunk.isEmpty ? nil : (try MessagePackEncoder().encode(chunk), chunk.count)
            }
        }
    }
}

/// An iterator kept in a class so that a closure can advance it; used by one run's task only.
// Unchecked: one consumer task owns it (the run that made it).
private final class IteratorBox<Iterator>: @unchecked Sendable {
    var iterator: Iterator
    init(_ iterator: Iterator) { self.iterator = iterator }
}

extension IteratorBox where Iterator: AsyncIteratorProtocol {
    func nextAsync() async throws -> Iterator.Element? {
        var iterator = self.iterator
        defer { self.iterator = iterator }
        return try await iterator.next()
    }
}

/// The next chunk of inputs, encoded (a msgpack array), and how many; nil at the end.
// Unchecked: one consumer task owns it.
final class PoolFeeder: @unchecked Sendable {
    let next: (Int) async throws -> (arguments: [UInt8], count: Int)?
    init(_ next: @escaping (Int) async throws -> (arguments: [UInt8], count: Int)?) { self.next = next }
}

/// What an imap's runs are made from.
struct PoolResultsSource<Output: Sendable>: Sendable {
    let scheduler: PoolScheduler
    let callIDs: PoolCallIDs
    let makeFeeder: @Sendable () -> PoolFeeder
    let chunkSize: Int
    let ordered: Bool
    let lookahead: Int
    let decodeOutputs: @Sendable (ByteBuffer, Int, [Int]) throws -> [Output]

    init<Input>(scheduler: PoolScheduler, callIDs: PoolCallIDs, inputs: PoolInputs<Input>, chunkSize: Int, ordered: Bool,
                lookahead: Int, decodeOutputs: @escaping @Sendable (ByteBuffer, Int, [Int]) throws -> [Output]) {
        self.scheduler = scheduler
        self.callIDs = callIDs
        self.makeFeeder = inputs.makeFeeder
        self.chunkSize = max(chunkSize, 1)
        self.ordered = ordered
        self.lookahead = lookahead
        self.decodeOutputs = decodeOutputs
    }
}

/// One iteration of a ``PoolResults``: feeds chunks while fewer than `lookahead` inputs are
/// out, and hands back what came in, in order or as it came.
// Unchecked: one consumer task drives it (an iterator is not shared); `call` is thread-safe.
final class PoolResultsRun<Output: Sendable>: @unchecked Sendable {
    private let source: PoolResultsSource<Output>
    private let call: PoolCall
    private let feeder: PoolFeeder
    private var submitted = 0
    private var consumed = 0
    private var inputEnded = false
    private var finished = false
    // imap: results waiting for their turn, by index.
    private var pending: [Int: Output] = [:]
    private var failedAt: [Int: PoolError] = [:]
    private var nextIndex = 0
    // imapUnordered: results in arrival order.
    private var ready: [Output] = []
    private var readyHead = 0
    private var failures: [PoolError] = []

    init(_ source: PoolResultsSource<Output>) {
        self.source = source
        call = PoolCall(id: source.callIDs.next())
        feeder = source.makeFeeder()
    }

    deinit {
        // Left early (a `break`, a thrown error): nothing more starts.
        if !finished { stop() }
    }

    private func stop() {
        finished = true
        call.abandon()
        let scheduler = source.scheduler, call = self.call
        scheduler.loop.execute { scheduler.cancel(call) }
    }

    func next() async throws -> Output? {
        guard !finished else { return nil }
        while true {
            if source.ordered {
                if let output = pending.removeValue(forKey: nextIndex) {
                    nextIndex += 1
                    consumed += 1
                    return output
                }
                if let error = failedAt.removeValue(forKey: nextIndex) {
                    stop()
                    throw error
                }
            } else {
                if !failures.isEmpty {
                    stop()
                    throw failures.removeFirst()
                }
                if readyHead < ready.count {
                    let output = ready[readyHead]
                    readyHead += 1
                    if readyHead > 256, readyHead * 2 > ready.count {
                        ready.removeFirst(readyHead)
                        readyHead = 0
                    }
                    consumed += 1
                    return output
                }
            }
            if !inputEnded { try await topUp() }
            if inputEnded, consumed == submitted {
                finished = true
                return nil
            }
            let call = self.call
            let events = await withTaskCancellationHandler {
                await call.take()
            } onCancel: {
                call.abandon()
            }
            if Task.isCancelled || call.isAbandoned {
                stop()
                throw CancellationError()
            }
            absorb(events)
        }
    }

    /// Submits chunks until `lookahead` inputs are out or the inputs end.
    private func topUp() async throws {
        var chunks: [PoolChunk] = []
        var items = 0
        while !inputEnded, submitted - consumed < source.lookahead {
            guard let (arguments, count) = try await feeder.next(source.chunkSize) else {
                inputEnded = true
                break
            }
            chunks.append(PoolChunk(call: call, firstIndex: submitted, count: count, arguments: arguments))
            submitted += count
            items += count
        }
        guard !chunks.isEmpty else { return }
        let scheduler = source.scheduler, batch = chunks
        scheduler.counters.submitted(items)
        scheduler.loop.execute { scheduler.submit(batch) }
    }

    private func absorb(_ events: [PoolCall.Event]) {
        for event in events {
            switch event {
            case .outputs(let first, let count, let bytes, let failed):
                do {
                    let outputs = try source.decodeOutputs(bytes, count, failed)
                    var next = 0
                    for offset in 0..<count where !failed.contains(offset) {
                        if source.ordered { pending[first + offset] = outputs[next] } else { ready.append(outputs[next]) }
                        next += 1
                    }
                } catch {
                    for offset in 0..<count where !failed.contains(offset) {
                        record(PoolError(.badResult, function: source.scheduler.function, index: first + offset,
                                         message: "its result did not decode as \(Output.self): \(error)"))
                    }
                }
            case .failure(let error):
                record(error)
            }
        }
    }

    private func record(_ error: PoolError) {
        if source.ordered, let index = error.index { failedAt[index] = error } else { failures.append(error) }
    }
}
