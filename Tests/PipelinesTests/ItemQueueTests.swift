import Testing
@testable import Pipelines

/// The queue between stages: first in, first out; its producers wait at the maximum; it ends
/// when its last producer finished and it is empty; an abort wakes everyone.
@Suite("Item queue")
struct ItemQueueTests {
    func item(_ number: Int) -> PipelineItem { PipelineItem(sequence: UInt64(number), values: [.int(Int64(number))]) }

    @Test("items come out in order, and the queue ends once its last producer finished and it is empty")
    func order() async {
        let queue = ItemQueue(name: "q", maxsize: 0, producers: 2)
        for number in 0..<5 { await queue.put(item(number)) }
        await queue.producerFinished()
        await queue.producerFinished()
        var seen: [UInt64] = []
        while let next = await queue.get() { seen.append(next.sequence) }
        #expect(seen == [0, 1, 2, 3, 4])
        #expect(await queue.get() == nil)
    }

    @Test("a producer waits at the maximum until a consumer takes one")
    func bounded() async throws {
        let queue = ItemQueue(name: "q", maxsize: 2, producers: 1)
        await queue.put(item(0))
        await queue.put(item(1))
        let third = Task { await queue.put(item(2)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(await queue.depth == 2, "the third put did not wait")
        #expect(await queue.get()?.sequence == 0)
        #expect(await third.value == true)
        #expect(await queue.depth == 2)
    }

    @Test("an item put back goes first, and a waiting consumer gets it at once")
    func putBack() async throws {
        let queue = ItemQueue(name: "q", maxsize: 1, producers: 1)
        await queue.put(item(1))
        await queue.putBack(item(0))        // above the maximum: it is not lost
        #expect(await queue.get()?.sequence == 0)
        #expect(await queue.get()?.sequence == 1)
        let waiting = Task { await queue.get() }
        try await Task.sleep(for: .milliseconds(50))
        await queue.putBack(item(7))
        #expect(await waiting.value?.sequence == 7)
    }

    @Test("an abort ends waiting consumers and producers, and later puts are refused")
    func abort() async throws {
        let full = ItemQueue(name: "full", maxsize: 1, producers: 1)
        await full.put(item(0))
        let producer = Task { await full.put(item(1)) }
        let empty = ItemQueue(name: "empty", maxsize: 0, producers: 1)
        let consumer = Task { await empty.get() }
        try await Task.sleep(for: .milliseconds(50))
        await full.abort()
        await empty.abort()
        #expect(await producer.value == false)
        #expect(await consumer.value == nil)
        #expect(await full.put(item(2)) == false)
    }

    @Test("a cancelled consumer stops waiting (a worker scaled away) and takes nothing")
    func cancelled() async throws {
        let queue = ItemQueue(name: "q", maxsize: 0, producers: 1)
        let consumer = Task { await queue.get() }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        #expect(await consumer.value == nil)
        await queue.put(item(3))
        #expect(await queue.get()?.sequence == 3, "the item went to the cancelled consumer")
    }
}
