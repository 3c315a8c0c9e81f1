import MessagePack

/// Consecutive inputs of one call that travel to a worker as one task: their arguments
/// encoded once, as one msgpack array. Made by the caller's task, then owned by the loop.
// Unchecked: after `submit` hands it to the loop, only the loop touches the `var`s.
final class PoolChunk: @unchecked Sendable {
    let call: PoolCall
    /// The index of its first input in the call (0 for a `submit`).
    let firstIndex: Int
    /// Whether the call has input indices (a map, an imap) or is a single `submit`.
    let indexed: Bool
    let count: Int
    /// The inputs' arguments: a msgpack array of `count` elements.
    let arguments: [UInt8]
    /// Whether it was cut out of a chunk whose worker died (so it is not the first run).
    let isRerun: Bool
    /// Inputs answered so far (answers arrive in input order).
    var answered = 0
    /// How many times it was sent to a worker.
    var attempts = 0
    /// The task id of its current run (the frames' correlation).
    var taskID: UInt64 = 0

    init(call: PoolCall, firstIndex: Int, indexed: Bool = true, count: Int, arguments: [UInt8], isRerun: Bool = false) {
        self.call = call
        self.firstIndex = firstIndex
        self.indexed = indexed
        self.count = count
        self.arguments = arguments
        self.isRerun = isRerun
    }

    /// The unanswered inputs, each as a chunk of its own: what runs again after the worker
    /// died, so that a poisonous input is named exactly.
    func unansweredInputs() -> [PoolChunk] {
        var singles: [PoolChunk] = []
        arguments.withUnsafeBytes { raw in
            var reader = MessagePackReader(raw)
            guard let elements = try? reader.readArrayHeader(), elements == count else { return }
            for offset in 0..<count {
                guard let element = try? reader.readRawValue() else { return }
                guard offset >= answered else { continue }
                var single: [UInt8] = [0x91]   // fixarray of one
                single.append(contentsOf: element)
                singles.append(PoolChunk(call: call, firstIndex: firstIndex + offset, indexed: indexed, count: 1,
                                         arguments: single, isRerun: true))
            }
        }
        return singles
    }
}

/// The chunks waiting for a worker, oldest first; runs of a dead worker's chunk go in front.
struct PoolQueue {
    private var items: [PoolChunk] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }

    mutating func append(contentsOf chunks: [PoolChunk]) { items.append(contentsOf: chunks) }

    mutating func prepend(_ chunks: [PoolChunk]) {
        if head >= chunks.count {
            head -= chunks.count
            for (offset, chunk) in chunks.enumerated() { items[head + offset] = chunk }
        } else {
            items = chunks + items[head...]
            head = 0
        }
    }

    mutating func popFirst() -> PoolChunk? {
        guard head < items.count else { return nil }
        let chunk = items[head]
        head += 1
        if head > 1024, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return chunk
    }

    /// Removes and returns every chunk `matching`.
    mutating func removeAll(where matching: (PoolChunk) -> Bool) -> [PoolChunk] {
        let remaining = items[head...]
        let removed = remaining.filter(matching)
        guard !removed.isEmpty else { return [] }
        items = remaining.filter { !matching($0) }
        head = 0
        return removed
    }
}
