import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// `close()` in Python's sense (release the handle, refused while the child runs) and
/// `closeMailbox()` (end a worker's mailbox), and negative timeouts meaning zero.
@Suite(.serialized) struct ProcessCloseTests {
    init() { TestWorker.use() }

    @Test func closeIsRefusedWhileTheChildRunsThenReleasesTheHandle() async throws {
        let tally = try await ChildProcess.start(Tally.self)
        #expect(throws: ProcessError.self) { try tally.close() }
        do { try tally.close() } catch let error as ProcessError { #expect(error.code == .stillRunning) }
        #expect(!tally.isClosed)
        #expect(try await tally.request(2, as: Int.self) == 2, "a refused close leaves the handle usable")
        tally.closeMailbox()
        #expect(try await tally.join() == .exited(0), "ending the mailbox ends the worker")
        try tally.close()
        try tally.close()   // again: nothing
        #expect(tally.isClosed)
        #expect(tally.name.hasPrefix("Tally-") && tally.status == .exited(0), "name and status stay readable")
        await #expect(throws: ProcessError.self) { try await tally.request(1, as: Int.self) }
        #expect(throws: ProcessError.self) { try tally.send(1) }
    }

    @Test func negativeTimeoutsMeanZero() async throws {
        let sleeper = try await ChildProcess.start(TestEntries.sleep, 10_000)
        #expect(try await sleeper.join(timeout: .seconds(-1)) == nil)
        do {
            _ = try await sleeper.result(timeout: .seconds(-1))
            Issue.record("a result arrived from a child that sleeps for ten seconds")
        } catch let error as ProcessError {
            #expect(error.code == .timedOut)
        }
        #expect(try await Multiprocessing.wait(for: [sleeper], timeout: .seconds(-1)).isEmpty)
        #expect(try await ChildProcess.waitForAny([sleeper], timeout: .seconds(-5)).isEmpty)
        sleeper.kill()
        #expect(try await sleeper.join(timeout: .seconds(-1)) == nil || sleeper.status == .signaled(.kill))
        #expect(try await sleeper.join() == .signaled(.kill))
    }
}
