import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// A remote manager client on another network host: a network namespace joined to this one by a
/// veth pair (`ip netns`), the client started there by `ip netns exec` (MPTestWorker's
/// `--demo-remote-client`). It uses the manager, is killed with SIGKILL (what it held is
/// released), and is cut off by taking the link down (its call ends with `disconnected` or
/// `timedOut`, and the server lets it go): nothing hangs. Where namespaces are not permitted
/// the tests print why and run on the loopback instead (without the partition).
@Suite(.serialized) struct NetworkNamespaceTests {
    static let key = Array("the network namespace tests' secret".utf8)
    /// Short limits, so a cut link is noticed within seconds on both sides.
    static let liveness = RemoteLiveness(idle: .seconds(1), interval: .seconds(1), probes: 2, unacknowledged: .seconds(3))

    init() { TestWorker.use() }



    /// Runs `body` with the namespace (removed afterwards, whatever happens), or with the
    /// loopback when one cannot be made here.
    func withNetwork(_ body: (TestNetwork) async throws -> Void) async throws {
        let network = TestNetwork.make()
        defer { network.remove() }
        try await body(network)
    }

    @Test func aClientInAnotherNamespaceUsesTheManager() async throws {
        try await withNetwork { network in
            let manager = try Manager()
            let server = try await manager.serve(on: .tcp(host: network.serverHost, port: 0), authkey: Self.key, liveness: Self.liveness)
            defer { server.close() }
            let shared = try await manager.dictionary(String.self, Int.self, name: "netns-use")
            let client = try network.startClient("use", server.address, key: Self.key, name: "netns-use")
            #expect(client.nextLine() == "ok 10", "\(client.transcript())")
            #expect(await client.exitStatus() == 0)
            #expect(try await shared["count"] == 10)
            #expect(try await shared["client"] != nil)
            try await waitUntil("the client's connection is gone", limit: .seconds(60)) { server.clientCount == 0 }
        }
    }

    @Test func aKilledRemotePeerIsReleased() async throws {
        try await withNetwork { network in
            let manager = try Manager()
            let server = try await manager.serve(on: .tcp(host: network.serverHost, port: 0), authkey: Self.key, liveness: Self.liveness)
            defer { server.close() }
            _ = try await manager.dictionary(String.self, Int.self, name: "netns-hold")
            let before = try await managerObjectCount()
            let client = try network.startClient("hold", server.address, key: Self.key, name: "netns-hold")
            #expect(client.nextLine() == "ready", "\(client.transcript())")
            #expect(try await managerObjectCount() >= before + 2)
            #expect(server.clientCount == 1)
            client.kill()
            _ = await client.exitStatus()
            try await waitUntil("the killed peer's objects are freed", limit: .seconds(60)) { try await managerObjectCount() == before }
            try await waitUntil("the killed peer's connection is gone", limit: .seconds(60)) { server.clientCount == 0 }
        }
    }

    @Test func aPartitionEndsTheCallAndTheServerLetsTheClientGo() async throws {
        try await withNetwork { network in
            guard network.namespace != nil else {
                print("NetworkNamespaceTests: no network namespace here (\(network.reason ?? "?")); the partition test needs a link to take down, skipped")
                return
            }
            let manager = try Manager()
            let server = try await manager.serve(on: .tcp(host: network.serverHost, port: 0), authkey: Self.key, liveness: Self.liveness)
            defer { server.close() }
            let client = try network.startClient("partition", server.address, key: Self.key, name: "netns-partition")
            #expect(client.nextLine() == "ready", "\(client.transcript())")
            #expect(server.clientCount == 1)
            network.cut()
            client.write("go\n")
            let outcome = client.nextLine() ?? ""
            print("NetworkNamespaceTests: the partitioned call ended with \(outcome)")
            let code = outcome.split(separator: " ").dropFirst().first.map(String.init)
            #expect(code == "disconnected" || code == "timedOut", "the call in flight failed instead of hanging: \(outcome) \(client.transcript())")
            #expect(await client.exitStatus() == 0)
            try await waitUntil("the server noticed the silent client (keepalive)", limit: .seconds(60)) { server.clientCount == 0 }
        }
    }
}

/// A network namespace joined to this one by a veth pair, or the loopback where that cannot
/// be made. Addresses are on a /30 of 10.213.0.0/16 picked by pid, on interfaces this test
/// made, so traffic never leaves the machine.
struct TestNetwork: Sendable {
    /// The namespace's name, nil on the loopback.
    let namespace: String?
    /// Why there is no namespace.
    let reason: String?
    /// The host the server listens on.
    let serverHost: String
    let rootInterface: String

    static func make() -> TestNetwork {
        let pid = getpid()
        let name = "mp-netns-\(pid)"
        let root = "mpr\(pid % 100_000)", inside = "mpn\(pid % 100_000)"
        let subnet = "10.213.\(pid % 250).\(4 * Int.random(in: 1...60))"
        let base = subnet.split(separator: ".").map(String.init)
        let (serverAddress, clientAddress) = ("\(base[0]).\(base[1]).\(base[2]).\(Int(base[3])! + 1)", "\(base[0]).\(base[1]).\(base[2]).\(Int(base[3])! + 2)")
        let steps: [[String]] = [
            ["netns", "add", name],
            ["link", "add", root, "type", "veth", "peer", "name", inside],
            ["link", "set", inside, "netns", name],
            ["addr", "add", "\(serverAddress)/30", "dev", root],
            ["link", "set", root, "up"],
            ["netns", "exec", name, "ip", "addr", "add", "\(clientAddress)/30", "dev", inside],
            ["netns", "exec", name, "ip", "link", "set", inside, "up"],
            ["netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ]
        let made = TestNetwork(namespace: name, reason: nil, serverHost: serverAddress, rootInterface: root)
        for step in steps {
            let (status, output) = Self.ip(step)
            if status != 0 {
                made.remove()
                let reason = "ip \(step.joined(separator: " ")) failed (\(status)): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
                print("NetworkNamespaceTests: \(reason); running on the loopback instead")
                return TestNetwork(namespace: nil, reason: reason, serverHost: "127.0.0.1", rootInterface: root)
            }
        }
        return made
    }

    /// Removes the veth pair and the namespace (each only if this test made it).
    func remove() {
        guard let namespace else { return }
        _ = Self.ip(["link", "del", rootInterface])
        _ = Self.ip(["netns", "del", namespace])
    }

    /// Takes the link down: a partition.
    func cut() { _ = Self.ip(["link", "set", rootInterface, "down"]) }

    /// Starts the demo client in the namespace (or here on the loopback).
    func startClient(_ mode: String, _ address: ListenerAddress, key: [UInt8], name: String) throws -> DemoClient {
        let demo = [TestWorker.path, "--demo-remote-client", mode, address.description, key.map { String(format: "%02x", $0) }.joined(), name]
        let process = Foundation.Process()
        if let namespace {
            process.executableURL = URL(fileURLWithPath: Self.ipPath)
            process.arguments = ["netns", "exec", namespace] + demo
        } else {
            process.executableURL = URL(fileURLWithPath: demo[0])
            process.arguments = Array(demo.dropFirst())
        }
        return try DemoClient(process)
    }

    static let ipPath = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"

    /// Runs `ip` with `arguments`: its status and what it printed.
    static func ip(_ arguments: [String]) -> (Int32, String) {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: ipPath)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return (127, "\(error)") }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}

/// The demo client's process: its lines, its stdin, and a watchdog that kills it after 120 s
/// so that no read here can hang.
final class DemoClient: @unchecked Sendable {
    let process: Foundation.Process
    private let output = Pipe(), errors = Pipe(), input = Pipe()
    private var seen: [String] = []

    init(_ process: Foundation.Process) throws {
        self.process = process
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = input
        try process.run()
        let pid = process.processIdentifier
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 120)
            if process.isRunning { _ = Glibc.kill(pid, SIGKILL) }
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// The next line it prints, nil at end of output.
    func nextLine() -> String? {
        var line: [UInt8] = []
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte.first == UInt8(ascii: "\n") { break }
            line.append(byte.first!)
        }
        let text = String(decoding: line, as: UTF8.self)
        seen.append(text)
        return text
    }

    func write(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }

    func kill() { _ = Glibc.kill(pid, SIGKILL) }

    func exitStatus() async -> Int32 {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return process.terminationStatus
    }

    /// Its lines so far and its standard error (once it ended), for a failure's message.
    func transcript() -> String {
        let err = process.isRunning ? "(running)" : String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return "lines: \(seen) stderr: \(err)"
    }
}
