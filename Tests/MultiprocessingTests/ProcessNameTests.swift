import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Python's default names: "Process-N" from a counter per parent, "Process-N:M" for a child's
/// children, the worker's type name for a worker; the same name seen from the child.
@Suite(.serialized) struct ProcessNameTests {
    init() { TestWorker.use() }

    /// N in "Process-N".
    private func number(_ name: String) throws -> Int {
        try #require(name.hasPrefix("Process-"), "\(name)")
        return try #require(Int(name.dropFirst("Process-".count)), "\(name)")
    }

    @Test func unnamedChildrenAreProcessOneTwoAndKnowIt() async throws {
        let first = try await ChildProcess.start(TestEntries.whoAmI, 0)
        let second = try await ChildProcess.start(TestEntries.whoAmI, 0)
        #expect(try number(second.name) == number(first.name) + 1)
        #expect(try await first.value.name == first.name)
        #expect(try await second.value.name == second.name)
        try await first.join()
        try await second.join()
    }

    @Test func aChildsChildrenAreNamedBelowItsIdentityEvenWhenItIsNamed() async throws {
        let plain = try await ChildProcess.start(ApiEntries.nameChildren)
        let n = try number(plain.name)
        #expect(try await plain.value == [plain.name, "\(plain.name):1", "\(plain.name):1", "\(plain.name):2", "\(plain.name):2"])
        try await plain.join()
        // A chosen name keeps the counter going, and its children still take its identity.
        let named = try await ChildProcess.start(ApiEntries.nameChildren, options: ProcessOptions(name: "chosen"))
        #expect(try await named.value == ["chosen", "Process-\(n + 1):1", "Process-\(n + 1):1", "Process-\(n + 1):2", "Process-\(n + 1):2"])
        try await named.join()
    }

    @Test func aWorkerIsNamedAfterItsType() async throws {
        let tally = try await ChildProcess.start(Tally.self)
        #expect(tally.name.hasPrefix("Tally-"), "\(tally.name)")
        #expect(Int(tally.name.dropFirst("Tally-".count)) != nil)
        tally.closeMailbox()
        try await tally.join()
    }
}
