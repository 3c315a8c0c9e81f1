import Foundation
import MPTestEntries
import MessagePack
import Testing
@testable import Multiprocessing

/// Entries of any arity, with and without a result, started with their arguments directly;
/// the typed handle `start` returns (Python's `Process(target=f, args=(...))`).
@Suite(.serialized) struct ProcessArityTests {
    init() { TestWorker.use() }

    @Test func aFunctionWithoutArgumentsRunsAndReturns() async throws {
        #expect(try await ChildProcess.run(ApiEntries.answer) == 42)
    }

    @Test func aFunctionThatReturnsNothingRunsToItsEnd() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mp-touch-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await ChildProcess.run(ApiEntries.touch, path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "done")
        let idle = try await ChildProcess.start(ApiEntries.idle)
        try await idle.value
        #expect(try await idle.join() == .exited(0))
    }

    @Test func severalArgumentsArriveInOrderWithTheirTypes() async throws {
        #expect(try await ChildProcess.run(ApiEntries.repeatText, 3, "ab") == "ababab")
        #expect(try await ChildProcess.run(ApiEntries.sum3, 1, 20, 300) == 321)
        #expect(try await ChildProcess.run(ApiEntries.describe4, 7, "x", 2.5, [1, 2]) == "7 x 2.5 [1, 2]")
    }

    @Test func aFunctionWithArgumentsAndTheContextGetsBoth() async throws {
        let task = try await ChildProcess.start(ApiEntries.namedSum, 2, 3, options: ProcessOptions(name: "adder"))
        #expect(try await task.value == "adder: 5")
        try await task.join()
    }

    @Test func anErrorThrownByAVoidFunctionReachesTheCallerAndExitsOne() async throws {
        try await ChildProcess.run(ApiEntries.check, 1, 2)
        let task = try await ChildProcess.start(ApiEntries.check, 3, 2)
        await #expect(throws: RemoteError(typeName: String(reflecting: CheckFailed.self), message: "the value is above the limit")) {
            try await task.value
        }
        #expect(try await task.join() == .exited(1))
    }

    @Test func theTypedHandleForwardsTheProcessAndAnswersTwice() async throws {
        let task = try await ChildProcess.start(TestEntries.square, 9)
        #expect(ChildProcess.activeChildren().contains(task), "the handle is the child")
        #expect(try await task.value == 81)
        #expect(try await task.result(timeout: .seconds(-1)) == 81, "a result already here is returned whatever the timeout")
        #expect(try await task.join() == .exited(0))
        #expect(task.exitCode == 0 && !task.isAlive)
        #expect(try await (task as ChildProcess).result(of: TestEntries.square) == 81)
        #expect(try await Multiprocessing.wait(for: [task], timeout: .zero).count == 1)
    }

    @Test func aRequestOfAnotherShapeIsRefusedNamingTheFunction() async throws {
        // A misdeclared handle sends one Int where the child's function takes two arguments.
        let misdeclared = ProcessFunction<Int, Int>(ApiEntries.sum3.name) { $0 }
        let task = try await ChildProcess.start(misdeclared, 5)
        do {
            _ = try await task.value
            Issue.record("a function of three arguments accepted one")
        } catch let error as RemoteError {
            #expect(error.message.contains("\"api.sum3\" takes 3 arguments"), "\(error.message)")
        }
        #expect(try await task.join() == .exited(1))
    }

    @Test func argumentsOnTheWireAreNilOneValueOrAnArray() throws {
        let encoder = MessagePackEncoder()
        #expect(try encoder.encode(ProcessArguments()) == [0xC0])                       // nil
        #expect(try encoder.encode(ProcessArguments(7)) == [0x07])                      // the value itself
        #expect(try encoder.encode(ProcessArguments(7, "x")) == [0x92, 0x07, 0xA1, 0x78])   // [7, "x"]
    }
}
