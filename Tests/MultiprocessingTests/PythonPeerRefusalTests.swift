import Foundation
import MessagePack
import Testing
@testable import Multiprocessing

/// A foreign peer that breaks the protocol (Protocols/python/misbehaving_worker.py): what the
/// supervisor refuses is dropped and reported, never taken as an answer, and the peer stays
/// connected where PROTOCOL.md says it does; a peer refused at its handshake reads why.
@Suite(.serialized, .enabled(if: PythonWorker.unavailableReason == nil,
                             Comment(rawValue: PythonWorker.unavailableReason ?? "")))
struct PythonPeerRefusalTests {
    init() { TestWorker.use() }

    static let script = URL(fileURLWithPath: PythonWorker.script)
        .deletingLastPathComponent().appendingPathComponent("misbehaving_worker.py").path

    static func start(_ arguments: [String] = []) async throws -> ChildProcess {
        try await ChildProcess.start(executable: "/usr/bin/env", arguments: ["python3", script] + arguments,
                                     options: .init(name: "python-misbehaving"))
    }

    /// Asks the peer to misbehave with `what`, and returns the answer the request got.
    func answer(to what: String, from peer: ChildProcess) async throws -> MessagePackValue {
        try await peer.request(["misbehave": what], as: MessagePackValue.self, timeout: .seconds(30))
    }

    func finish(_ peer: ChildProcess) async throws {
        #expect(try await peer.request(5, as: Int.self, timeout: .seconds(30)) == 5, "the peer is still connected")
        peer.closeMailbox()
        #expect(try await peer.join(timeout: .seconds(30)) == .exited(0))
        try await PythonWorker.expectGone(peer)
    }

    @Test func aReplyFromAnotherSourceIsRefusedAndTheRightOneIsTheAnswer() async throws {
        let peer = try await Self.start()
        #expect(try await answer(to: "wrong-source", from: peer) == "real")
        try await finish(peer)
    }

    @Test func aMalformedBodyAfterTheWelcomeIsDroppedAndThePeerStays() async throws {
        let peer = try await Self.start()
        #expect(try await answer(to: "malformed", from: peer) == "real")
        try await finish(peer)
    }

    @Test func aStrayReplyAndAnUnknownDestinationAreDroppedAndThePeerStays() async throws {
        let peer = try await Self.start()
        #expect(try await answer(to: "stray", from: peer) == "real")
        #expect(try await answer(to: "unknown-destination", from: peer) == "real")
        try await finish(peer)
    }

    @Test func anUnknownKindIsAnsweredWithTheErrorTheProtocolPrescribes() async throws {
        let peer = try await Self.start()
        let seen = try await answer(to: "unknown-kind", from: peer)
        #expect(seen == [.uint(Envelope.Kind.error.rawValue), 77, "ProtocolError.unknownKind"])
        try await finish(peer)
    }

    /// Version 0 is refused; the peer reads the error frame (it exits 7 when it did) instead of
    /// being killed before it could. The peer reads only 0.3 s after its hello, so a supervisor
    /// that kills a refused peer at once (as it used to) ends it by SIGKILL, unread.
    @Test func aPeerRefusedAtItsHandshakeReceivesTheErrorFrame() async throws {
        do {
            let peer = try await Self.start(["version0"])
            Issue.record("version 0 was welcomed")
            peer.kill()
            _ = try await peer.join()
        } catch let error as ProcessError {
            #expect(error.status == .exited(7), "it read the error frame, then exited: \(error)")
        }
    }
}
