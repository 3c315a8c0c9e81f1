import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// The supervisor routes between workers, disconnects a child that breaks the framing and
/// drops a malformed body, while everybody else carries on.
@Suite(.serialized) struct SupervisorTests {
    init() { TestWorker.use() }

    @Test func aWorkerAsksAnotherThroughTheSupervisor() async throws {
        let tally = try await ChildProcess.start(Tally.self)
        #expect(try await ChildProcess.run(TestEntries.ask, .init(target: tally.id, value: 4)) == 4)
        #expect(try await ChildProcess.run(TestEntries.ask, .init(target: tally.id, value: 6)) == 10)
        #expect(try await tally.request(0, as: Int.self) == 10, "the parent sees the same state")
        tally.closeMailbox()
        try await tally.join()
    }

    @Test func aRequestToAnUnknownWorkerIsAnError() async throws {
        do {
            _ = try await ChildProcess.run(TestEntries.ask, .init(target: 999_999, value: 1))
            Issue.record("a request to nobody was answered")
        } catch let error as RemoteError {
            #expect(error.typeName == "ProtocolError.unknownDestination")
        }
    }

    func expectDisconnected(_ bytes: [UInt8], _ what: String) async throws {
        let bystander = try await ChildProcess.start(Tally.self)
        let child = try await ChildProcess.start(TestEntries.writeRaw, bytes)
        do {
            _ = try await child.result(of: TestEntries.writeRaw)
            Issue.record("\(what) was accepted")
        } catch let error as ProcessError {
            #expect(error.code == .disconnected, "\(what): \(error)")
        }
        #expect(try await child.join(timeout: .seconds(10)) == .signaled(.kill), "\(what): the child is killed")
        #expect(try await bystander.request(1, as: Int.self) == 1, "\(what): the others carry on")
        bystander.closeMailbox()
        try await bystander.join()
    }

    /// After the welcome, a body that is not an envelope and a payload is dropped and reported:
    /// framing is intact, so the child stays connected (PROTOCOL.md, Errors). What follows such
    /// a frame is still read: PythonPeerRefusalTests.
    func expectDropped(_ bytes: [UInt8], _ what: String) async throws {
        let child = try await ChildProcess.start(TestEntries.writeRaw, bytes)
        #expect(try await child.join(timeout: .seconds(2)) == nil, "\(what): the child was disconnected")
        child.kill()
        #expect(try await child.join(timeout: .seconds(10)) == .signaled(.kill))
    }

    @Test func garbageIsDroppedAndTheChildStays() async throws {
        try await expectDropped([0, 0, 0, 3, 0xc1, 0xc1, 0xc1], "a frame of garbage")
    }

    @Test func anOversizedFrameDisconnectsTheChild() async throws {
        try await expectDisconnected([0x7f, 0xff, 0xff, 0xff], "a 2 GiB frame header")
    }

    @Test func aBodyThatIsNotAnEnvelopeIsDroppedAndTheChildStays() async throws {
        try await expectDropped([0, 0, 0, 1, 0x01], "a frame holding one integer")
    }

    @Test func dyingInTheMiddleOfAFrameIsReported() async throws {
        let child = try await ChildProcess.start(TestEntries.halfFrame, 0)
        do {
            _ = try await child.result(of: TestEntries.halfFrame)
            Issue.record("half a frame was taken as an answer")
        } catch let error as ProcessError {
            #expect(error.code == .disconnected || error.code == .childExited, "\(error)")
        }
        try await child.join()
    }
}
