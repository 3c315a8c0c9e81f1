import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// A manager served on an address (`Manager.serve(on:authkey:)`) and reached from other
/// processes with the authkey (`Manager.connect(to:authkey:)`), over TCP and Unix sockets:
/// the same objects as the local tree's, atomic increments from several clients, a killed
/// client's references released, a wrong key refused, and calls that end with
/// `disconnected` when the connection goes.
@Suite(.serialized) struct RemoteManagerTests {
    typealias Job = RemoteManagerEntries.Job
    static let key = Array("the remote manager tests' secret".utf8)

    init() { TestWorker.use() }



    static func unixPath() -> String { "/tmp/mp-manager-\(getpid())-\(UInt32.random(in: 0 ... .max)).sock" }

    func aChildUsesTheServedManager(on address: ListenerAddress, name: String) async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: address, authkey: Self.key)
        defer { server.close() }
        let shared = try await manager.dictionary(String.self, Int.self, name: name)
        try await shared.set("parent", 7)
        let child = try await ChildProcess.start(RemoteManagerEntries.use,
                                                 Job(address: server.address.description, authkey: Self.key, name: name, increments: 100))
        #expect(try await child.result(of: RemoteManagerEntries.use) == 7, "the child read what the parent set")
        try await child.join()
        #expect(try await shared["child"] == Int(child.pid), "the parent reads what the remote child set")
        #expect(try await shared["count"] == 100)
        try await waitUntil("the child's connection is gone") { server.clientCount == 0 }
    }

    @Test func aChildConnectsOverTCPAndUsesANamedDictionary() async throws {
        try await aChildUsesTheServedManager(on: .tcp(host: "127.0.0.1", port: 0), name: "remote-tcp")
    }

    @Test func aChildConnectsOverAUnixSocketAndUsesANamedDictionary() async throws {
        try await aChildUsesTheServedManager(on: .unix(path: Self.unixPath()), name: "remote-unix")
    }

    @Test func twoRemoteClientsIncrementAtomically() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let shared = try await manager.dictionary(String.self, Int.self, name: "remote-atomic")
        let job = Job(address: server.address.description, authkey: Self.key, name: "remote-atomic", increments: 500)
        let first = try await ChildProcess.start(RemoteManagerEntries.use, job)
        let second = try await ChildProcess.start(RemoteManagerEntries.use, job)
        _ = try await first.result(of: RemoteManagerEntries.use)
        _ = try await second.result(of: RemoteManagerEntries.use)
        try await first.join()
        try await second.join()
        #expect(try await shared["count"] == 1_000, "no increment is lost")
    }

    @Test func aKilledRemoteClientsReferencesAreReleased() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let shared = try await manager.dictionary(String.self, Int.self, name: "remote-hold")
        let before = try await managerObjectCount()
        let child = try await ChildProcess.start(RemoteManagerEntries.holdAndSleep,
                                                 Job(address: server.address.description, authkey: Self.key, name: "remote-hold", increments: 0))
        try await waitUntil("the remote child made its objects") { try await shared["ready"] == 1 }
        #expect(try await managerObjectCount() >= before + 2)
        #expect(server.clientCount == 1)
        child.kill()
        _ = try await child.join()
        try await waitUntil("the killed client's objects are freed") { try await managerObjectCount() == before }
        try await waitUntil("the killed client's connection is gone") { server.clientCount == 0 }
        #expect(try await shared.increment("after", by: 1) == 1, "the manager serves on")
    }

    @Test func aClientInThisProcessUsesTheSameObjectsAndProxiesTravel() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .unix(path: Self.unixPath()), authkey: Self.key)
        defer { server.close() }
        let local = try await manager.dictionary(String.self, Int.self, name: "remote-same")
        try await local.set("a", 1)
        let remote = try await Manager.connect(to: server.address, authkey: Self.key)
        defer { remote.disconnect() }
        let seen = try await remote.dictionary(String.self, Int.self, name: "remote-same")
        #expect(try await seen["a"] == 1)
        #expect(try await seen.increment("a", by: 2) == 3)
        #expect(try await local["a"] == 3)
        // A proxy of the remote manager, encoded and decoded in a process connected to it.
        let list = try await remote.list(Int.self, [1, 2])
        let bytes = try MessagePackEncoder().encode(list)
        let decoded = try MessagePackDecoder().decode(SharedList<Int>.self, from: bytes)
        try await decoded.append(3)
        #expect(try await list.count() == 3)
    }

    @Test func aWrongKeyIsAnAuthenticationError() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        do {
            _ = try await Manager.connect(to: server.address, authkey: Array("not the key".utf8))
            Issue.record("a wrong key connected")
        } catch {
            #expect(error.code == .authentication)
        }
        #expect(server.clientCount == 0)
    }

    @Test func nothingServedThereIsDisconnected() async throws {
        let listener = try Listener(address: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        let address = listener.address
        listener.close()
        do {
            _ = try await Manager.connect(to: address, authkey: Self.key)
            Issue.record("connected to nothing")
        } catch {
            #expect(error.code == .disconnected)
        }
    }

    @Test func whenTheServerClosesCallsFailWithDisconnected() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        let remote = try await Manager.connect(to: server.address, authkey: Self.key)
        let shared = try await remote.dictionary(String.self, Int.self)
        try await shared.set("a", 1)
        server.close()
        try await waitUntil("a call fails once the server closed") {
            do {
                _ = try await shared.get("a")
                return false
            } catch {
                #expect((error as? ManagerError)?.code == .disconnected)
                return true
            }
        }
        await #expect { _ = try await remote.dictionary(String.self, Int.self) } throws: {
            ($0 as? ManagerError)?.code == .disconnected
        }
    }

    /// Callers that look for their own answers on the socket (the reading turn) and the reader
    /// thread share one connection: answers read by one caller reach the others, none is lost
    /// or given to the wrong call.
    @Test func manyTasksCallingAtOnceOverOneConnectionEachGetTheirOwnAnswers() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let remote = try await Manager.connect(to: server.address, authkey: Self.key)
        defer { remote.disconnect() }
        let shared = try await remote.dictionary(String.self, Int.self)
        let tasks = 8, calls = 300
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for call in 1...calls {
                        #expect(try await shared.increment("task \(task)", by: 1) == call, "task \(task) reads its own count back")
                        _ = try await shared.increment("all", by: 1)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await shared["all"] == tasks * calls)
    }

    /// A call the manager keeps waiting (an event nobody sets) ends with `disconnected` when its
    /// process disconnects, and the server lets the client go.
    @Test func disconnectingEndsACallInFlight() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let remote = try await Manager.connect(to: server.address, authkey: Self.key)
        let event = try await remote.event()
        let waiting = Task { try await event.wait() }
        try await Task.sleep(for: .milliseconds(100))
        remote.disconnect()
        await #expect { _ = try await waiting.value } throws: { ($0 as? ManagerError)?.code == .disconnected }
        try await waitUntil("the server let the client go") { server.clientCount == 0 }
    }

    /// A connection that makes no call still notices that the server went away, and a
    /// connection's socket, its reader thread's wake pipe and the server's side are all closed
    /// once it ends.
    @Test func noDescriptorOutlivesAConnection() async throws {
        let manager = try Manager()
        _ = try await manager.dictionary(String.self, Int.self)   // the manager's own setup is done before counting
        let before = try FileDescriptor.openDescriptors()
        let server = try await manager.serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        let remote = try await Manager.connect(to: server.address, authkey: Self.key)
        let shared = try await remote.dictionary(String.self, Int.self)
        try await shared.set("a", 1)
        server.close()
        // Nothing opened since `before` stays open (others may close meanwhile: earlier tests' children).
        try await waitUntil("the idle client noticed the server's end and closed its side") {
            try Set(FileDescriptor.openDescriptors()).isSubset(of: Set(before))
        }
        await #expect { _ = try await shared.get("a") } throws: { ($0 as? ManagerError)?.code == .disconnected }
        remote.disconnect()
        #expect(try Set(FileDescriptor.openDescriptors()).isSubset(of: Set(before)))
    }

    @Test func servingFromAConnectedManagerIsRefused() async throws {
        let manager = try Manager()
        let server = try await manager.serve(on: .unix(path: Self.unixPath()), authkey: Self.key)
        defer { server.close() }
        let remote = try await Manager.connect(to: server.address, authkey: Self.key)
        defer { remote.disconnect() }
        do {
            _ = try await remote.serve(on: .unix(path: Self.unixPath()), authkey: Self.key)
            Issue.record("a connected manager was served again")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }
}
