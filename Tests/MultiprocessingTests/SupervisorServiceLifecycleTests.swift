import Logging
import MPTestEntries
import MultiprocessingServiceLifecycle
import ServiceLifecycle
import Testing
@testable import Multiprocessing

/// A supervisor tree as a swift-service-lifecycle `Service` (issue 14, item 9): it runs in a
/// `ServiceGroup` beside other services, stops its children in order when the group shuts
/// down gracefully, and a tree that gives up ends the group with its error.
@Suite(.serialized) struct SupervisorServiceLifecycleTests {
    init() { TestWorker.use() }

    static let logger = Logger(label: "test.lifecycle")

    @Test("a graceful shutdown of the group stops the tree's children, and run() returns")
    func gracefulShutdown() async throws {
        let tree = Supervisor(strategy: .oneForOne, intensity: 3, children: [.worker("a", Tally.self), .worker("b", Tally.self)])
        let group = ServiceGroup(services: [tree], logger: Self.logger)
        let running = Task { try await group.run() }
        try await waitUntil("both children running") {
            let a = await tree.child("a"), b = await tree.child("b")
            return a != nil && b != nil
        }
        let a = try #require(await tree.child("a")), b = try #require(await tree.child("b"))
        #expect(try await a.request(2, as: Int.self) == 2)
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!a.isAlive && !b.isAlive)
        #expect(await tree.child("a") == nil)
    }

    @Test("a tree whose restart intensity is exhausted ends run() with its error, and the group with it")
    func givingUpEndsTheGroup() async throws {
        let tree = Supervisor(strategy: .oneForOne, intensity: 0, children: [.worker("a", Tally.self)])
        let group = ServiceGroup(services: [tree], logger: Self.logger)
        let running = Task { try await group.run() }
        try await waitUntil("the child running") { await tree.child("a") != nil }
        try #require(await tree.child("a")).kill()
        await #expect(throws: SupervisorError.self) { try await running.value }
    }
}
