import Foundation
import MPTestEntries
import MessagePack
import Testing
@testable import Multiprocessing

/// A payload above the maximum frame fails with the runtime's own error, naming the size and the
/// limit, before anything is sent; the channel stays usable. And a worker that says goodbye to a
/// channel the parent already closed exits normally, not by SIGPIPE.
@Suite(.serialized) struct MessageSizeTests {
    init() { TestWorker.use() }

    static let limit = MessagePackLimits.defaultMaxFrameSize
    static let big = Data(count: SizeEntries.oversized)
    /// An upper bound against a hang, not a speed claim.
    static let hangGuard = Duration.seconds(120)

    /// Checks `error` is `messageTooLarge` for `what`, naming a size above the oversized
    /// payload and the limit.
    static func expectTooLarge(_ error: ProcessError?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(error?.code == .messageTooLarge, sourceLocation: sourceLocation)
        let message = error?.message ?? ""
        #expect(message.hasPrefix("\(what) of \(SizeEntries.oversized / 1_000_000)"), "names the size: \(message)", sourceLocation: sourceLocation)
        #expect(message.contains("above the maximum frame of \(limit) bytes"), "names the limit: \(message)", sourceLocation: sourceLocation)
    }

    @Test func aRequestAboveTheMaximumFrameIsRefusedAndTheWorkerStillAnswers() async throws {
        let echo = try await ChildProcess.start(Echo.self)
        let error = await #expect(throws: ProcessError.self) {
            _ = try await echo.request(Self.big, as: MessagePackValue.self, timeout: Self.hangGuard)
        }
        Self.expectTooLarge(error, "a request")
        #expect(try await echo.request("after", as: String.self, timeout: Self.hangGuard) == "after")
        echo.closeMailbox()
        #expect(try await echo.join(timeout: Self.hangGuard) == .exited(0))
    }

    @Test func aMessageAboveTheMaximumFrameIsRefusedAndTheWorkerStillAnswers() async throws {
        let echo = try await ChildProcess.start(Echo.self)
        let error = #expect(throws: ProcessError.self) { try echo.send(Self.big) }
        Self.expectTooLarge(error, "a message")
        #expect(try await echo.request(7, as: Int.self, timeout: Self.hangGuard) == 7)
        echo.closeMailbox()
        #expect(try await echo.join(timeout: Self.hangGuard) == .exited(0))
    }

    @Test func anArgumentAboveTheMaximumFrameIsRefusedByStartAndRun() async throws {
        let started = await #expect(throws: ProcessError.self) {
            _ = try await ChildProcess.start(SizeEntries.count, Self.big)
        }
        Self.expectTooLarge(started, "an argument")
        let ran = await #expect(throws: ProcessError.self) {
            _ = try await ChildProcess.run(SizeEntries.count, Self.big)
        }
        Self.expectTooLarge(ran, "an argument")
        #expect(try await ChildProcess.run(TestEntries.square, 7) == 49, "the next start works")
    }

    @Test(arguments: ["request", "send", "reply"])
    func aWorkersOversizedFrameIsRefusedAndItsNextRequestIsAnswered(mode: String) async throws {
        let echo = try await ChildProcess.start(Echo.self)
        let sender = try await ChildProcess.start(Oversender.self)
        let answer = try await sender.request([.string(mode), .uint(echo.id)] as [MessagePackValue], as: [String].self,
                                              timeout: Self.hangGuard)
        let what = ["request": "a request", "send": "a message", "reply": "a reply"][mode]!
        Self.expectTooLarge(ProcessError(ProcessError.Code(answer[0]), answer[1]), what)
        #expect(answer[2] == "still usable", "the request after it was answered")
        for worker in [sender, echo] {
            worker.closeMailbox()
            #expect(try await worker.join(timeout: Self.hangGuard) == .exited(0))
        }
    }

    @Test func aFunctionsResultAboveTheMaximumFrameArrivesAsMessageTooLarge() async throws {
        let child = try await ChildProcess.start(SizeEntries.bigResult, SizeEntries.oversized)
        let error = await #expect(throws: RemoteError.self) {
            _ = try await child.result(of: SizeEntries.bigResult, timeout: Self.hangGuard)
        }
        #expect(error?.typeName == String(reflecting: ProcessError.self))
        #expect(error?.message.hasPrefix("messageTooLarge: a result of \(SizeEntries.oversized / 1_000_000)") == true,
                "names the size: \(error?.message ?? "")")
        #expect(error?.message.contains("above the maximum frame of \(Self.limit) bytes") == true)
        #expect(try await child.join(timeout: Self.hangGuard) == .exited(1), "a failed function exits 1")
    }

    @Test func aWorkerWhoseChannelTheParentClosedSaysGoodbyeAndExitsZeroNotBySIGPIPE() async throws {
        let worker = try await ChildProcess.start(Goodbyer.self)
        worker.closeMailbox()   // both ends: its goodbye, written 200 ms later, meets a pipe with no reader
        let status = try await worker.join(timeout: Self.hangGuard)
        #expect(status == .exited(0), "ended \(String(describing: status)), not by SIGPIPE")
    }
}
