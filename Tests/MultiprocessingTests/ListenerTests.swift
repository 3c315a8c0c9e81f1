import Foundation
import Testing
@testable import Multiprocessing

/// `Listener` and `Client`: Python's `multiprocessing.connection` over TCP and Unix sockets.
/// Authenticated round trips, a wrong key refused on both sides, a Python peer in each role,
/// and the limits an unauthenticated peer is held to (frame size, time, garbage, a peer that
/// leaves mid-handshake), with no descriptor left open.
@Suite(.serialized) struct ListenerTests {
    static let key = Array("the listener tests' shared secret".utf8)
    static let loopback = ListenerAddress.tcp(host: "127.0.0.1", port: 0)

    struct Reading: Codable, Equatable, Sendable {
        var id: Int
        var name: String
    }

    static func unixPath() -> String {
        "/tmp/mp-listener-\(getpid())-\(UInt32.random(in: 0 ... .max)).sock"
    }

    /// Accepts on `listener` while `client` connects, and returns both ends.
    static func connectedPair(_ listener: Listener, authkey: [UInt8] = key) async throws -> (server: Connection, client: Connection) {
        async let server = listener.accept(timeout: .seconds(30))
        let client = try await Client(address: listener.address, authkey: authkey, timeout: .seconds(30))
        return (try await server, client)
    }

    static func roundTrip(_ pair: (server: Connection, client: Connection)) async throws {
        try await pair.client.send(Reading(id: 7, name: "seven"))
        #expect(try await pair.server.receive(Reading.self, timeout: .seconds(30)) == Reading(id: 7, name: "seven"))
        try await pair.server.send(bytes: Array(repeating: 0xAB, count: 200_000))   // larger than a socket buffer's first write
        #expect(try await pair.client.receiveBytes(timeout: .seconds(30)) == Array(repeating: 0xAB, count: 200_000))
        // The blocking forms work on a socket end too (it is non-blocking underneath).
        try Self.blockingSend(pair.client, [1, 2, 3])
        #expect(try Self.blockingReceive(pair.server) == [1, 2, 3])
        pair.client.close()
        await #expect(throws: ConnectionError.self) { try await pair.server.receiveBytes(timeout: .seconds(30)) }
        pair.server.close()
    }

    static func blockingReceive(_ connection: Connection) throws -> [UInt8] { try connection.receiveBytes() }
    static func blockingSend(_ connection: Connection, _ bytes: [UInt8]) throws { try connection.send(bytes: bytes) }

    // MARK: - Round trips

    @Test func aClientAuthenticatesOverTCPAndFramesGoBothWays() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        guard case .tcp(let host, let port) = listener.address else { Issue.record("not TCP: \(listener.address)"); return }
        #expect(host == "127.0.0.1")
        #expect(port != 0, "port 0 picks a port, and the listener's address tells which")
        try await Self.roundTrip(try await Self.connectedPair(listener))
    }

    @Test func aClientAuthenticatesOverAUnixSocketAndTheFileGoesAtClose() async throws {
        let path = Self.unixPath()
        let listener = try Listener(address: .unix(path: path), authkey: Self.key)
        #expect(listener.address == .unix(path: path))
        #expect(FileManager.default.fileExists(atPath: path))
        try await Self.roundTrip(try await Self.connectedPair(listener))
        listener.close()
        #expect(!FileManager.default.fileExists(atPath: path), "the socket's file is removed at close")
    }

    @Test func anIPv6LoopbackListenerAcceptsWhereIPv6Exists() async throws {
        let listener: Listener
        do { listener = try Listener(address: .tcp(host: "::1", port: 0), authkey: Self.key) } catch {
            print("ListenerTests: no IPv6 loopback here (\(error)); the IPv6 round trip is skipped")
            return
        }
        defer { listener.close() }
        #expect(listener.address.description.hasPrefix("[::1]:"))
        try await Self.roundTrip(try await Self.connectedPair(listener))
    }

    @Test func closingTheListenerWakesAnAcceptWithClosed() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        let waiting = Task { try await listener.accept() }
        try await Task.sleep(for: .milliseconds(50))
        listener.close()
        await #expect { _ = try await waiting.value } throws: { ($0 as? ConnectionError)?.code == .closed }
        await #expect { _ = try await listener.accept(timeout: .zero) } throws: { ($0 as? ConnectionError)?.code == .closed }
    }

    @Test func anAcceptWithATimeoutAndNoPeerTimesOut() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        await #expect { _ = try await listener.accept(timeout: .milliseconds(20)) } throws: {
            ($0 as? ConnectionError)?.code == .timedOut
        }
    }

    // MARK: - Keys

    @Test func aWrongKeyIsAnAuthenticationErrorOnBothSidesAndTheConnectionCloses() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        let serverSide = Task { try await listener.accept(timeout: .seconds(30)) }
        await #expect { _ = try await Client(address: listener.address, authkey: Array("another key".utf8)) } throws: {
            ($0 as? AuthenticationError)?.code == .rejected
        }
        await #expect { _ = try await serverSide.value } throws: { error in
            guard let error = error as? AuthenticationError else { return false }
            return error.code == .rejected && error.peer?.hasPrefix("127.0.0.1:") == true
        }
        #expect(listener.pendingHandshakes == 0)
    }

    @Test func aListenerThatCannotProveTheKeyIsRefusedByTheClient() async throws {
        // The second direction: a Python listener welcomes anything, then answers our
        // challenge with another key. Our client refuses it, and the Python side reads #FAILURE#.
        guard let python = PythonPeer.interpreter else { return }
        let peer = try PythonPeer.start(python, "rogue-listener", "127.0.0.1:0", key: Array("not the key".utf8))
        let address = try ListenerAddress(parsing: try peer.firstLine())
        await #expect { _ = try await Client(address: address, authkey: Self.key, timeout: .seconds(30)) } throws: {
            ($0 as? AuthenticationError)?.code == .rejected
        }
        #expect(try await peer.exitStatus() == 3, "the rogue listener read #FAILURE#: \(peer.transcript())")
    }

    @Test func anEmptyKeyIsRefused() throws {
        #expect { _ = try Listener(address: Self.loopback, authkey: []) } throws: { ($0 as? ConnectionError)?.code == .invalidArgument }
    }

    // MARK: - Python

    @Test func aPythonClientAuthenticatesAndItsFramesInteroperate() async throws {
        guard let python = PythonPeer.interpreter else { return }
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        let peer = try PythonPeer.start(python, "client", listener.address.description, key: Self.key)
        let connection = try await listener.accept(timeout: .seconds(30))
        #expect(try await connection.receiveBytes(timeout: .seconds(30)) == Array("ping from python".utf8))
        try await connection.send(bytes: Array("pong from swift".utf8))
        #expect(try await connection.receiveBytes(timeout: .seconds(30)) == Array("echo:pong from swift".utf8))
        connection.close()
        #expect(try await peer.exitStatus() == 0, "\(peer.transcript())")
    }

    @Test func ourClientAuthenticatesToAPythonListener() async throws {
        guard let python = PythonPeer.interpreter else { return }
        let peer = try PythonPeer.start(python, "listener", "127.0.0.1:0", key: Self.key)
        let address = try ListenerAddress(parsing: try peer.firstLine())
        let connection = try await Client(address: address, authkey: Self.key, timeout: .seconds(30))
        try await connection.send(bytes: Array("hello from swift".utf8))
        #expect(try await connection.receiveBytes(timeout: .seconds(30)) == Array("echo:hello from swift".utf8))
        connection.close()
        #expect(try await peer.exitStatus() == 0, "\(peer.transcript())")
    }

    @Test func aLegacyHMACMD5ClientIsRefused() async throws {
        // Python 3.11 and older answer a challenge with a bare HMAC-MD5: a downgrade refused here.
        guard let python = PythonPeer.interpreter, !python.isModern else { return }
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        let peer = try PythonPeer.start(python, "legacy-client", listener.address.description, key: Self.key)
        await #expect { _ = try await listener.accept(timeout: .seconds(30)) } throws: {
            ($0 as? AuthenticationError)?.code == .protocolViolation
        }
        #expect(try await peer.exitStatus() == 3, "the Python client read #FAILURE#: \(peer.transcript())")
    }

    // MARK: - Before authentication

    @Test func anOversizeFrameBeforeAuthenticationIsRefusedAndClosed() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        for header: [UInt8] in [[0x7F, 0xFF, 0xFF, 0xFF], [0x00, 0x00, 0x01, 0x01], [0xFF, 0xFF, 0xFF, 0xFF]] {
            let peer = try RawPeer(listener.address)
            defer { peer.close() }
            _ = try peer.readFrame()                // the challenge
            try peer.write(header)                 // 2 GiB, 257 bytes, Python's 64-bit marker
            await #expect { _ = try await listener.accept(timeout: .seconds(30)) } throws: {
                ($0 as? AuthenticationError)?.code == .frameTooLarge
            }
            #expect(try peer.readToEnd().isEmpty, "the listener closed the connection")
        }
    }

    @Test func garbageBeforeAuthenticationIsAProtocolViolation() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        let peer = try RawPeer(listener.address)
        defer { peer.close() }
        _ = try peer.readFrame()
        try peer.write([0, 0, 0, 12] + Array("GET / HTTP/1".utf8))
        await #expect { _ = try await listener.accept(timeout: .seconds(30)) } throws: {
            ($0 as? AuthenticationError)?.code == .protocolViolation
        }
        #expect(try peer.readFrame() == Authentication.failure, "the peer is told #FAILURE#")
        #expect(try peer.readToEnd().isEmpty)
    }

    @Test func aPeerThatClosesMidHandshakeIsReportedAndTheNextPeerIsServed() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        defer { listener.close() }
        let peer = try RawPeer(listener.address)
        _ = try peer.readFrame()
        try peer.write([0, 0, 0, 40, 1, 2])       // part of an answer, then gone
        peer.close()
        await #expect { _ = try await listener.accept(timeout: .seconds(30)) } throws: {
            ($0 as? AuthenticationError)?.code == .peerClosed
        }
        try await Self.roundTrip(try await Self.connectedPair(listener))
    }

    @Test func aClientWhoseListenerClosesMidHandshakeGetsPeerClosed() async throws {
        let server = try RawListener()
        defer { server.close() }
        let client = Task { try await Client(address: server.address, authkey: Self.key, timeout: .seconds(30)) }
        let accepted = try server.accept()
        accepted.close()
        await #expect { _ = try await client.value } throws: { ($0 as? AuthenticationError)?.code == .peerClosed }
    }

    @Test func aSilentPeerDoesNotHoldUpOthers() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key, authenticationTimeout: .seconds(60))
        defer { listener.close() }
        let silent = try RawPeer(listener.address)
        defer { silent.close() }
        _ = try silent.readFrame()
        try silent.write([0, 0])                   // half a header, then nothing
        let pair = try await Self.connectedPair(listener)
        #expect(listener.pendingHandshakes == 1, "the silent peer is still in its handshake while the other was served")
        try await Self.roundTrip(pair)
    }

    @Test func aSlowPeerIsDisconnectedAtTheTimeLimit() async throws {
        let listener = try Listener(address: Self.loopback, authkey: Self.key, authenticationTimeout: .milliseconds(300))
        defer { listener.close() }
        let slow = try RawPeer(listener.address)
        defer { slow.close() }
        _ = try slow.readFrame()
        try slow.write([0, 0, 0])
        await #expect { _ = try await listener.accept(timeout: .seconds(30)) } throws: {
            ($0 as? AuthenticationError)?.code == .timedOut
        }
        #expect(try slow.readToEnd().isEmpty, "the slow peer was disconnected")
    }

    @Test func aClientToAnAddressWithNoListenerFailsAndLeavesNothingOpen() async throws {
        _ = try ConnectionPoller.shared()   // started once per process: not a leak
        let before = try FileDescriptor.openDescriptors()
        let listener = try Listener(address: Self.loopback, authkey: Self.key)
        let address = listener.address
        listener.close()
        await #expect { _ = try await Client(address: address, authkey: Self.key) } throws: {
            ($0 as? ConnectionError)?.code == .systemCallFailed
        }
        await #expect { _ = try await Client(address: .unix(path: Self.unixPath()), authkey: Self.key) } throws: {
            ($0 as? ConnectionError)?.code == .systemCallFailed
        }
        #expect(try FileDescriptor.openDescriptors() == before)
    }

    // MARK: - Descriptors

    @Test func noDescriptorOutlivesTheListenerAndItsPeers() async throws {
        // Warm up what stays for the process's life (the connection poller's wake pipe).
        try await Self.roundTrip(try await Self.connectedPair(try Listener(address: Self.loopback, authkey: Self.key)))
        let before = try FileDescriptor.openDescriptors()
        do {
            let listener = try Listener(address: .unix(path: Self.unixPath()), authkey: Self.key)
            try await Self.roundTrip(try await Self.connectedPair(listener))
            _ = try? await Self.connectedPair(listener, authkey: Array("wrong".utf8))
            let garbage = try RawPeer(listener.address)
            _ = try garbage.readFrame()
            try garbage.write([0xFF, 0, 0, 0])
            _ = try? await listener.accept(timeout: .seconds(30))
            garbage.close()
            let silent = try RawPeer(listener.address)   // still in its handshake at close
            _ = try silent.readFrame()
            async let untaken = Client(address: listener.address, authkey: Self.key)
            _ = try await untaken                         // authenticated, never accepted
            listener.close()
            silent.close()
        }
        // Handshake tasks end just after close(): wait for their descriptors (bounded).
        var after = try FileDescriptor.openDescriptors()
        for _ in 0..<500 where after != before {
            try await Task.sleep(for: .milliseconds(10))
            after = try FileDescriptor.openDescriptors()
        }
        #expect(after == before)
    }

    // MARK: - Addresses

    @Test func addressesParseFromTextAndPrintBack() throws {
        #expect(try ListenerAddress(parsing: "localhost:6000") == .tcp(host: "localhost", port: 6000))
        #expect(try ListenerAddress(parsing: "[::1]:80") == .tcp(host: "::1", port: 80))
        #expect(try ListenerAddress(parsing: ":0") == .tcp(host: "", port: 0))
        #expect(try ListenerAddress(parsing: "/run/app.sock") == .unix(path: "/run/app.sock"))
        #expect(try ListenerAddress(parsing: "unix:relative.sock") == .unix(path: "relative.sock"))
        for text in ["127.0.0.1:6000", "[::1]:80", "/run/app.sock", "unix:relative.sock"] {
            #expect(try ListenerAddress(parsing: text).description == text)
        }
        for bad in ["no-port", "host:99999", "host:http", "::1:80", "[::1:80", "unix:"] {
            #expect(throws: ConnectionError.self, "\(bad)") { try ListenerAddress(parsing: bad) }
        }
    }

    @Test func aUnixPathThatIsTooLongOrTakenIsAClearError() async throws {
        #expect { _ = try Listener(address: .unix(path: "/tmp/" + String(repeating: "x", count: 200)), authkey: Self.key) } throws: {
            ($0 as? ConnectionError)?.code == .invalidArgument
        }
        let path = Self.unixPath()
        let first = try Listener(address: .unix(path: path), authkey: Self.key)
        defer { first.close() }
        #expect { _ = try Listener(address: .unix(path: path), authkey: Self.key) } throws: { error in
            guard let error = error as? ConnectionError else { return false }
            return error.code == .systemCallFailed && error.message.contains(path)
        }
    }
}
