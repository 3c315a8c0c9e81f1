import Foundation
import Testing
@testable import Multiprocessing

/// A manager served with TLS (`serve(on:authkey:tls:)`) and reached with TLS
/// (`Manager.connect(to:authkey:tls:)`): the authkey's handshake and every frame inside a TLS
/// connection whose server certificate the client checks. Certificates are made for each run
/// with the openssl command (a CA, a server certificate for localhost signed by it, and a
/// second CA that signed nothing here).
@Suite(.serialized) struct RemoteTLSTests {
    static let key = Array("the TLS tests' secret".utf8)

    init() { TestWorker.use() }

    /// A folder with ca.pem, server.pem, server.key (CN and DNS name localhost; no IP name) and other-ca.pem.
    static func certificates() throws -> String {
        let folder = NSTemporaryDirectory() + "mp-tls-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=mp test CA"], in: folder)
        try openssl(["req", "-x509"] + ec + ["-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=another CA"], in: folder)
        try openssl(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: folder)
        try "subjectAltName=DNS:localhost\n".write(toFile: folder + "/san.ext", atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "server.pem", "-days", "2", "-extfile", "san.ext"], in: folder)
        return folder
    }

    static func openssl(_ arguments: [String], in folder: String) throws {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ManagerError(.invalidArgument, "openssl \(arguments.joined(separator: " ")) failed") }
    }

    func serve(_ folder: String) async throws -> ManagerServer {
        let tls = try RemoteTLS.server(certificateChain: folder + "/server.pem", privateKey: folder + "/server.key")
        return try await Manager().serve(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, tls: tls)
    }

    @Test func aManagerServedWithTLSIsUsedThroughIt() async throws {
        let folder = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await serve(folder)
        defer { server.close() }
        let local = try await Manager().dictionary(String.self, Int.self, name: "tls-shared")
        try await local.set("here", 1)
        let remote = try await Manager.connect(to: server.address, authkey: Self.key,
                                               tls: try RemoteTLS.client(trustRoots: folder + "/ca.pem", serverName: "localhost"))
        defer { remote.disconnect() }
        let seen = try await remote.dictionary(String.self, Int.self, name: "tls-shared")
        #expect(try await seen["here"] == 1, "the client sees what the server's tree set")
        for _ in 0..<200 { _ = try await seen.increment("count", by: 1) }
        #expect(try await local["count"] == 200)
        // A large value crosses the tunnel in many TLS records, both ways.
        let big = String(repeating: "x", count: 1 << 20)
        let texts = try await remote.dictionary(String.self, String.self)
        try await texts.set("big", big)
        #expect(try await texts["big"] == big)
        #expect(server.clientCount == 1)
    }

    @Test func aClientWithoutTLSIsRefusedAndNothingHangs() async throws {
        let folder = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await serve(folder)
        defer { server.close() }
        do {
            _ = try await Manager.connect(to: server.address, authkey: Self.key, timeout: .seconds(2))
            Issue.record("a plain client was served by a TLS server")
        } catch {
            #expect([.authentication, .disconnected, .timedOut].contains(error.code), "\(error)")
        }
        #expect(server.clientCount == 0)
        // The server serves TLS clients on.
        let remote = try await Manager.connect(to: server.address, authkey: Self.key,
                                               tls: try RemoteTLS.client(trustRoots: folder + "/ca.pem", serverName: "localhost"))
        defer { remote.disconnect() }
        #expect(try await remote.dictionary(String.self, Int.self).count() == 0)
    }

    @Test func aServerCertificateThatDoesNotVerifyIsAnAuthenticationError() async throws {
        let folder = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await serve(folder)
        defer { server.close() }
        for tls in [try RemoteTLS.client(trustRoots: folder + "/other-ca.pem", serverName: "localhost"),   // another CA
                    try RemoteTLS.client(trustRoots: folder + "/ca.pem", serverName: "db1.example"),   // another name
                    try RemoteTLS.client(trustRoots: folder + "/ca.pem")] {   // 127.0.0.1, which the certificate does not name
            do {
                _ = try await Manager.connect(to: server.address, authkey: Self.key, timeout: .seconds(5), tls: tls)
                Issue.record("a certificate that does not verify was accepted: \(tls.serverName ?? "-")")
            } catch {
                #expect(error.code == .authentication, "\(error)")
                #expect(error.message.contains("TLS"), "\(error)")
            }
        }
        #expect(server.clientCount == 0)
    }

    @Test func badConfigurationsAreNamed() async throws {
        let folder = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect { _ = try RemoteTLS.server(certificateChain: folder + "/missing.pem", privateKey: folder + "/server.key") } throws: {
            ($0 as? ManagerError)?.code == .invalidArgument && "\($0)".contains("missing.pem")
        }
        #expect { _ = try RemoteTLS.client(trustRoots: folder + "/server.key") } throws: {
            ($0 as? ManagerError)?.code == .invalidArgument && "\($0)".contains("server.key")
        }
        // A Unix socket cannot be served with TLS.
        let tls = try RemoteTLS.server(certificateChain: folder + "/server.pem", privateKey: folder + "/server.key")
        await #expect { _ = try await Manager().serve(on: .unix(path: "/tmp/mp-tls-unix-\(getpid()).sock"), authkey: Self.key, tls: tls) } throws: {
            ($0 as? ManagerError)?.code == .invalidArgument
        }
    }

    @Test func noDescriptorOutlivesATLSConnectionOrItsServer() async throws {
        let folder = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let manager = try Manager()
        _ = try await manager.dictionary(String.self, Int.self)
        let client = try RemoteTLS.client(trustRoots: folder + "/ca.pem", serverName: "localhost")
        // A first connection and server, so what is made once per process (the certificates read, the supervisor) is there before counting.
        let warm = try await serve(folder)
        let first = try await Manager.connect(to: warm.address, authkey: Self.key, tls: client)
        first.disconnect()
        warm.close()
        try await Task.sleep(for: .milliseconds(200))
        let before = try FileDescriptor.openDescriptors()
        let server = try await serve(folder)
        let remote = try await Manager.connect(to: server.address, authkey: Self.key, tls: client)
        try await remote.dictionary(String.self, Int.self).set("a", 1)
        remote.disconnect()
        server.close()
        // Nothing opened since `before` stays open (others may close meanwhile: earlier tests' children).
        try await waitUntil("every socket of the connection and the server is closed") {
            try Set(FileDescriptor.openDescriptors()).isSubset(of: Set(before))
        }
    }
}
