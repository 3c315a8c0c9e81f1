import MessagePack
import NIOCore
import NIOEmbedded
import Testing
@testable import Multiprocessing

/// The manager's side of the Sync objects, with no transport: requests handed to a
/// `ManagerObjects` on an embedded loop by clients that record their answers, time advanced by
/// hand (a timeout is an event, not a wait).
@Suite struct ManagerSyncServerTests {
    /// A client as the manager sees it: the answers it got, by correlation.
    final class Client: ManagerLink {
        let id: UInt64
        var name: String { "client \(id)" }
        var answers: [UInt64: Result<MessagePackValue, ManagerError>] = [:]
        init(_ id: UInt64) { self.id = id }
        func answer(_ result: Result<[UInt8], ManagerError>, correlation: UInt64) {
            answers[correlation] = result.map { try! MessagePackValue(unpacking: $0) }
        }
    }

    /// One manager on an embedded loop, and the requests its clients make.
    final class Server {
        let loop = EmbeddedEventLoop()
        let objects: ManagerObjects
        private var correlation: UInt64 = 0
        init() { objects = ManagerObjects(loop: loop) }

        /// Makes a `typeID` for `client`; its object id.
        func create(_ typeID: String, _ arguments: [MessagePackValue] = [], by client: Client) throws -> UInt64 {
            correlation += 1
            objects.handle(.create(typeID: typeID, name: nil, arguments: arguments), correlation: correlation, from: client)
            let answer = try #require(client.answers[correlation])
            return UInt64(try #require(try answer.get()[0]?.int64Value))
        }

        /// Calls `method`; the correlation to look the answer up by (none yet: the call waits).
        @discardableResult
        func call(_ object: UInt64, _ method: String, _ arguments: [MessagePackValue] = [], by client: Client) -> UInt64 {
            correlation += 1
            objects.handle(.call(object: object, method: method, arguments: arguments), correlation: correlation, from: client)
            return correlation
        }

        /// Calls `method` and expects an answer now.
        func answer(_ object: UInt64, _ method: String, _ arguments: [MessagePackValue] = [], by client: Client,
                    sourceLocation: SourceLocation = #_sourceLocation) -> Result<MessagePackValue, ManagerError>? {
            let correlation = call(object, method, arguments, by: client)
            let answer = client.answers[correlation]
            #expect(answer != nil, "\(method) was not answered at once", sourceLocation: sourceLocation)
            return answer
        }

        func cancel(_ correlation: UInt64, by client: Client) {
            objects.handle(.cancel, correlation: correlation, from: client)
        }
    }

    static func value(_ answer: Result<MessagePackValue, ManagerError>?) -> MessagePackValue? { try? answer?.get() }
    static func code(_ answer: Result<MessagePackValue, ManagerError>?) -> ManagerError.Code? {
        guard case .failure(let error) = answer else { return nil }
        return error.code
    }

    // MARK: locks

    @Test func aLockIsHandedToTheOldestWaiterAndOnlyItsHolderReleasesIt() throws {
        let server = Server(), first = Client(1), second = Client(2)
        let lock = try server.create("lock", by: first)
        #expect(Self.value(server.answer(lock, "acquire", [.uint(7), .nil], by: first)) == .int(1))
        let waiting = server.call(lock, "acquire", [.uint(9), .nil], by: second)
        #expect(second.answers[waiting] == nil)
        #expect(Self.code(server.answer(lock, "release", [.uint(9)], by: second)) == .notOwner)
        #expect(Self.code(server.answer(lock, "release", [.uint(8)], by: first)) == .notOwner)   // another token of the same process
        #expect(Self.value(server.answer(lock, "release", [.uint(7)], by: first)) == .nil)
        #expect(Self.value(second.answers[waiting]) == .int(1))
        #expect(Self.value(server.answer(lock, "isLocked", by: first)) == .bool(true))
    }

    @Test func aLockHolderAskingAgainGetsFalseWithATimeoutAndAnErrorWithout() throws {
        let server = Server(), client = Client(1)
        let lock = try server.create("lock", by: client)
        _ = server.answer(lock, "acquire", [.uint(3), .nil], by: client)
        #expect(Self.value(server.answer(lock, "acquire", [.uint(3), .double(5)], by: client)) == .int(0))
        #expect(Self.code(server.answer(lock, "acquire", [.uint(3), .nil], by: client)) == .invalidArgument)
    }

    @Test func anRLockGoesDeeperForItsHolder() throws {
        let server = Server(), first = Client(1), second = Client(2)
        let lock = try server.create("rlock", by: first)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: first)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: first)
        let waiting = server.call(lock, "acquire", [.uint(1), .nil], by: second)
        _ = server.answer(lock, "release", [.uint(1)], by: first)
        #expect(second.answers[waiting] == nil)
        _ = server.answer(lock, "release", [.uint(1)], by: first)
        #expect(Self.value(second.answers[waiting]) == .int(1))
    }

    @Test func anAcquireTimesOutAtItsTimeout() throws {
        let server = Server(), first = Client(1), second = Client(2)
        let lock = try server.create("lock", by: first)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: first)
        #expect(Self.value(server.answer(lock, "acquire", [.uint(1), .double(0)], by: second)) == .int(0))
        let waiting = server.call(lock, "acquire", [.uint(1), .double(2)], by: second)
        server.loop.advanceTime(by: .seconds(1))
        #expect(second.answers[waiting] == nil)
        server.loop.advanceTime(by: .seconds(1))
        #expect(Self.value(second.answers[waiting]) == .int(0))
        // The waiter left: the release frees the lock.
        _ = server.answer(lock, "release", [.uint(1)], by: first)
        #expect(Self.value(server.answer(lock, "isLocked", by: first)) == .bool(false))
    }

    @Test func aCancelledAcquireLeavesTheQueue() throws {
        let server = Server(), first = Client(1), second = Client(2)
        let lock = try server.create("lock", by: first)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: first)
        let waiting = server.call(lock, "acquire", [.uint(1), .nil], by: second)
        server.cancel(waiting, by: second)
        #expect(Self.code(second.answers[waiting]) == .cancelled)
        _ = server.answer(lock, "release", [.uint(1)], by: first)
        #expect(Self.value(server.answer(lock, "isLocked", by: first)) == .bool(false))
    }

    /// The shared-memory Lock's owner-died rule: released, marked, every acquisition without a
    /// recovery refused until one with a recovery clears the mark.
    @Test func aLockWhoseHolderEndsIsReleasedAndTheNextHolderIsTold() throws {
        let server = Server(), dying = Client(1), plain = Client(2), repairing = Client(3)
        let lock = try server.create("lock", by: repairing)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: dying)
        let refused = server.call(lock, "acquire", [.uint(1), .nil, .bool(false)], by: plain)
        let repairer = server.call(lock, "acquire", [.uint(1), .nil, .bool(true)], by: repairing)
        server.objects.clientGone(dying.id)
        #expect(Self.code(plain.answers[refused]) == .ownerDied)
        #expect(Self.value(repairing.answers[repairer]) == .int(2))
        #expect(Self.value(server.answer(lock, "ownerDied", by: plain)) == .bool(true))
        // Released without recovering: the mark stays.
        _ = server.answer(lock, "release", [.uint(1)], by: repairing)
        #expect(Self.code(server.answer(lock, "acquire", [.uint(1), .nil], by: plain)) == .ownerDied)
        #expect(Self.value(server.answer(lock, "acquire", [.uint(1), .nil, .bool(true)], by: repairing)) == .int(2))
        _ = server.answer(lock, "recovered", [.uint(1)], by: repairing)
        _ = server.answer(lock, "release", [.uint(1)], by: repairing)
        #expect(Self.value(server.answer(lock, "acquire", [.uint(1), .nil], by: plain)) == .int(1))
        #expect(Self.value(server.answer(lock, "ownerDied", by: plain)) == .bool(false))
    }

    @Test func aDeadClientsWaitingAcquireIsDroppedNotHandedTheLock() throws {
        let server = Server(), holder = Client(1), dying = Client(2)
        let lock = try server.create("lock", by: holder)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: holder)
        _ = server.call(lock, "acquire", [.uint(1), .nil], by: dying)
        server.objects.clientGone(dying.id)
        _ = server.answer(lock, "release", [.uint(1)], by: holder)
        #expect(Self.value(server.answer(lock, "isLocked", by: holder)) == .bool(false))
        #expect(Self.value(server.answer(lock, "ownerDied", by: holder)) == .bool(false))
    }

    @Test func aStoppingManagerFailsItsWaitersWithStopped() throws {
        let server = Server(), first = Client(1), second = Client(2)
        let lock = try server.create("lock", by: first)
        let queue = try server.create("queue", [.int(0)], by: first)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: first)
        let acquire = server.call(lock, "acquire", [.uint(1), .nil], by: second)
        let get = server.call(queue, "get", [.nil], by: second)
        server.objects.stop()
        #expect(Self.code(second.answers[acquire]) == .stopped)
        #expect(Self.code(second.answers[get]) == .stopped)
    }

    // MARK: condition

    @Test func aConditionWaiterTakesTheLockBackAfterTheNotifierReleases() throws {
        let server = Server(), waiter = Client(1), notifier = Client(2)
        let condition = try server.create("condition", [.nil], by: waiter)
        _ = server.answer(condition, "acquire", [.uint(1), .nil], by: waiter)
        _ = server.answer(condition, "acquire", [.uint(1), .nil], by: waiter)   // an rlock: two levels
        let wait = server.call(condition, "wait", [.uint(1), .nil], by: waiter)
        #expect(Self.code(server.answer(condition, "notify", [.uint(1)], by: notifier)) == .notOwner)
        #expect(Self.value(server.answer(condition, "acquire", [.uint(1), .nil], by: notifier)) == .int(1))
        _ = server.answer(condition, "notify", [.uint(1), .int(1)], by: notifier)
        #expect(waiter.answers[wait] == nil)   // the notifier holds the lock
        _ = server.answer(condition, "release", [.uint(1)], by: notifier)
        #expect(Self.value(waiter.answers[wait]) == .bool(true))
        // Back at two levels.
        _ = server.answer(condition, "release", [.uint(1)], by: waiter)
        _ = server.answer(condition, "release", [.uint(1)], by: waiter)
        #expect(Self.code(server.answer(condition, "release", [.uint(1)], by: waiter)) == .notOwner)
    }

    @Test func aConditionWaitTimesOutHoldingTheLockAgain() throws {
        let server = Server(), client = Client(1)
        let condition = try server.create("condition", [.nil], by: client)
        _ = server.answer(condition, "acquire", [.uint(1), .nil], by: client)
        let wait = server.call(condition, "wait", [.uint(1), .double(1)], by: client)
        server.loop.advanceTime(by: .seconds(1))
        #expect(Self.value(client.answers[wait]) == .bool(false))
        #expect(Self.value(server.answer(condition, "release", [.uint(1)], by: client)) == .nil)
    }

    @Test func aConditionOverALockSharesIt() throws {
        let server = Server(), first = Client(1), second = Client(2)
        let lock = try server.create("lock", by: first)
        let condition = try server.create("condition", [.uint(lock)], by: first)
        _ = server.answer(lock, "acquire", [.uint(1), .nil], by: first)
        #expect(Self.value(server.answer(condition, "acquire", [.uint(1), .double(0)], by: second)) == .int(0))
        #expect(Self.value(server.answer(condition, "notifyAll", [.uint(1)], by: first)) == .nil)
        let event = try server.create("event", by: first)
        #expect(Self.code(Result { () throws(ManagerError) in
            server.objects.handle(.create(typeID: "condition", name: nil, arguments: [.uint(event)]), correlation: 999, from: first)
            return try first.answers[999]!.get()
        }) == .wrongType)
    }

    // MARK: semaphores, event, barrier

    @Test func aSemaphoreCountsAndABoundedOneRefusesToPassItsValue() throws {
        let server = Server(), client = Client(1)
        let semaphore = try server.create("semaphore", [.int(2)], by: client)
        #expect(Self.value(server.answer(semaphore, "acquire", [.nil], by: client)) == .bool(true))
        #expect(Self.value(server.answer(semaphore, "acquire", [.nil], by: client)) == .bool(true))
        #expect(Self.value(server.answer(semaphore, "acquire", [.double(0)], by: client)) == .bool(false))
        let waiting = server.call(semaphore, "acquire", [.nil], by: client)
        _ = server.answer(semaphore, "release", [.int(3)], by: client)
        #expect(Self.value(client.answers[waiting]) == .bool(true))
        #expect(Self.value(server.answer(semaphore, "value", by: client)) == .int(2))

        let bounded = try server.create("boundedSemaphore", [.int(1)], by: client)
        #expect(Self.code(server.answer(bounded, "release", [.int(1)], by: client)) == .invalidArgument)
        _ = server.answer(bounded, "acquire", [.nil], by: client)
        #expect(Self.value(server.answer(bounded, "release", [.int(1)], by: client)) == .nil)
    }

    @Test func aBarrierBreaksWhenAPartyTimesOutAndResetMendsIt() throws {
        let server = Server(), a = Client(1), b = Client(2), c = Client(3)
        let barrier = try server.create("barrier", [.int(3), .nil], by: a)
        let first = server.call(barrier, "wait", [.nil], by: a)
        let second = server.call(barrier, "wait", [.nil], by: b)
        #expect(Self.value(server.answer(barrier, "wait", [.nil], by: c)) == .int(2))
        #expect(Self.value(a.answers[first]) == .int(0))
        #expect(Self.value(b.answers[second]) == .int(1))

        let early = server.call(barrier, "wait", [.nil], by: a)
        let timing = server.call(barrier, "wait", [.double(1)], by: b)
        server.loop.advanceTime(by: .seconds(1))
        #expect(Self.code(b.answers[timing]) == .brokenBarrier)
        #expect(Self.code(a.answers[early]) == .brokenBarrier)
        #expect(Self.code(server.answer(barrier, "wait", [.nil], by: c)) == .brokenBarrier)
        _ = server.answer(barrier, "reset", by: c)
        #expect(Self.value(server.answer(barrier, "isBroken", by: c)) == .bool(false))
    }

    @Test func aBarrierPartyWhoseClientEndsBreaksIt() throws {
        let server = Server(), a = Client(1), b = Client(2)
        let barrier = try server.create("barrier", [.int(3), .nil], by: a)
        let waiting = server.call(barrier, "wait", [.nil], by: a)
        _ = server.call(barrier, "wait", [.nil], by: b)
        server.objects.clientGone(b.id)
        #expect(Self.code(a.answers[waiting]) == .brokenBarrier)
    }

    @Test func anEventAnswersItsWaitersWhenSet() throws {
        let server = Server(), client = Client(1)
        let event = try server.create("event", by: client)
        #expect(Self.value(server.answer(event, "wait", [.double(0)], by: client)) == .bool(false))
        let waiting = server.call(event, "wait", [.nil], by: client)
        let timing = server.call(event, "wait", [.double(1)], by: client)
        server.loop.advanceTime(by: .seconds(1))
        #expect(Self.value(client.answers[timing]) == .bool(false))
        _ = server.answer(event, "set", by: client)
        #expect(Self.value(client.answers[waiting]) == .bool(true))
        _ = server.answer(event, "clear", by: client)
        #expect(Self.value(server.answer(event, "isSet", by: client)) == .bool(false))
    }

    // MARK: values, arrays, queues

    @Test func aValueAddsAtomicallyAndRefusesAnotherKind() throws {
        let server = Server(), client = Client(1)
        let value = try server.create("value", [.int(5)], by: client)
        #expect(Self.value(server.answer(value, "add", [.int(3)], by: client)) == .int(8))
        #expect(Self.code(server.answer(value, "set", [.string("eight")], by: client)) == .wrongType)
        #expect(Self.code(server.answer(value, "add", [.double(0.5)], by: client)) == .wrongType)
        #expect(Self.code(server.answer(value, "add", [.int(.max)], by: client)) == .invalidArgument)
        let text = try server.create("value", [.string("a")], by: client)
        #expect(Self.code(server.answer(text, "add", [.string("b")], by: client)) == .wrongType)
        #expect(Self.code(server.answer(text, "frobnicate", by: client)) == .unknownMethod)
    }

    @Test func anArrayIsFixedInLengthAndAddsAtAnIndex() throws {
        let server = Server(), client = Client(1)
        let array = try server.create("array", [.array([.double(1), .double(2)])], by: client)
        #expect(Self.value(server.answer(array, "add", [.int(1), .double(0.5)], by: client)) == .double(2.5))
        #expect(Self.code(server.answer(array, "get", [.int(2)], by: client)) == .indexOutOfRange)
        #expect(Self.code(server.answer(array, "set", [.int(0), .bool(true)], by: client)) == .wrongType)
        #expect(Self.value(server.answer(array, "snapshot", by: client)) == .array([.double(1), .double(2.5)]))
    }

    @Test func aBoundedQueueMakesPutsWaitAndTimesOutGetsAndJoins() throws {
        let server = Server(), producer = Client(1), consumer = Client(2)
        let queue = try server.create("queue", [.int(1)], by: producer)
        _ = server.answer(queue, "put", [.int(1), .nil], by: producer)
        #expect(Self.code(server.answer(queue, "put", [.int(2), .double(0)], by: producer)) == .full)
        let waitingPut = server.call(queue, "put", [.int(2), .nil], by: producer)
        #expect(Self.value(server.answer(queue, "full", by: producer)) == .bool(true))
        #expect(Self.value(server.answer(queue, "get", [.nil], by: consumer)) == .int(1))
        #expect(Self.value(producer.answers[waitingPut]) == .nil)
        #expect(Self.value(server.answer(queue, "get", [.nil], by: consumer)) == .int(2))
        let waitingGet = server.call(queue, "get", [.double(1)], by: consumer)
        server.loop.advanceTime(by: .seconds(1))
        #expect(Self.code(consumer.answers[waitingGet]) == .empty)

        let join = server.call(queue, "join", [.nil], by: producer)
        _ = server.answer(queue, "taskDone", by: consumer)
        #expect(producer.answers[join] == nil)
        _ = server.answer(queue, "taskDone", by: consumer)
        #expect(Self.value(producer.answers[join]) == .nil)
        #expect(Self.code(server.answer(queue, "taskDone", by: consumer)) == .invalidArgument)
    }

    @Test func wrongArgumentsAreTypedErrors() throws {
        let server = Server(), client = Client(1)
        server.objects.handle(.create(typeID: "semaphore", name: nil, arguments: [.string("two")]), correlation: 99, from: client)
        #expect(Self.code(client.answers[99]) == .wrongType)
        server.objects.handle(.create(typeID: "barrier", name: nil, arguments: [.int(0)]), correlation: 100, from: client)
        #expect(Self.code(client.answers[100]) == .invalidArgument)
        let lock = try server.create("lock", by: client)
        #expect(Self.code(server.answer(lock, "acquire", [.string("me"), .nil], by: client)) == .wrongType)
        #expect(Self.code(server.answer(lock, "acquire", [.uint(1), .double(-1)], by: client)) == .invalidArgument)
        #expect(Self.code(server.answer(lock, "acquire", [], by: client)) == .invalidArgument)
    }
}
