import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// Remote workers: a `RemoteWorkerLauncher` in another process (MPTestWorker's
/// `--demo-remote-worker`, started here or in another network namespace) connects to a
/// `WorkerServer` with the authkey, and its worker joins the supervisor as a child of its own:
/// addressable, monitorable, restarted by its launcher; faults end in typed errors.
@Suite(.serialized) struct RemoteWorkerTests {
    static let key = Array("the remote worker tests' secret".utf8)
    /// Short limits, so a cut link is noticed within seconds on both sides.
    static let liveness = NetworkNamespaceTests.liveness

    init() { TestWorker.use() }

    /// Starts the launcher demo for `entry` (in `network`'s namespace when it has one).
    static func launch(_ entry: String, name: String, at address: ListenerAddress, key: [UInt8] = key,
                       restart: String = "temporary", intensity: Int = 3, giveUpMilliseconds: Int = 3_000,
                       network: TestNetwork? = nil, environment: [String: String] = [:]) throws -> DemoClient {
        let demo = [TestWorker.path, "--demo-remote-worker", address.description, key.map { String(format: "%02x", $0) }.joined(),
                    entry, name, restart, String(intensity), String(giveUpMilliseconds)]
        let process = Foundation.Process()
        if let namespace = network?.namespace {
            process.executableURL = URL(fileURLWithPath: TestNetwork.ipPath)
            process.arguments = ["netns", "exec", namespace] + demo
        } else {
            process.executableURL = URL(fileURLWithPath: demo[0])
            process.arguments = Array(demo.dropFirst())
        }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        return try DemoClient(process)
    }

    /// The pid in the launcher's next "started PID" line.
    static func startedPID(_ launcher: DemoClient) -> Int32? {
        while let line = launcher.nextLine() {
            if line.hasPrefix("started ") { return Int32(line.dropFirst("started ".count)) }
        }
        return nil
    }

    /// The launcher's last line ("done ..." or "error CODE").
    static func outcome(_ launcher: DemoClient) -> String? {
        while let line = launcher.nextLine() {
            if line.hasPrefix("done ") || line.hasPrefix("error ") { return line }
        }
        return nil
    }

    static func records(of recorder: ChildProcess, count: Int) async throws -> [MessagePackValue] {
        var items: [MessagePackValue] = []
        for _ in 0..<500 {
            guard case .array(let seen) = try await recorder.request(MessagePackValue.string("show"), as: MessagePackValue.self) else { return [] }
            items = seen
            if items.count >= count { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return items
    }

    @Test("a remote worker joins over TCP with an id and its name, answers the parent and a local worker, and ends with its goodbye")
    func joinsOverTCP() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, liveness: Self.liveness)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "remote-tally", at: server.address)
        let pid = Self.startedPID(launcher)
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(worker.name == "remote-tally")
        #expect(worker.id > 0)
        #expect(worker.pid == pid, "the pid its hello gave: \(launcher.transcript())")
        #expect(worker.isAlive)
        #expect(ChildProcess.activeChildren().contains(worker))
        #expect(try await worker.request(5, as: Int.self) == 5)
        // A local worker asks the remote one, addressed by its id, through the supervisor.
        let asker = try await ChildProcess.start(TestEntries.ask, TestEntries.Ask(target: worker.id, value: 10))
        #expect(try await asker.value == 15)
        #expect(try await worker.request(1, as: Int.self) == 16)
        worker.closeMailbox()
        #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        #expect(Self.outcome(launcher) == "done exited with code 0", "\(launcher.transcript())")
        #expect(await launcher.exitStatus() == 0)
        #expect(server.activeWorkers.isEmpty)
    }

    @Test("over TLS: a launcher that trusts the server's CA joins and its worker answers; one that trusts another CA is refused, typed, and nothing joins")
    func joinsOverTLS() async throws {
        let folder = try RemoteTLSTests.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tls = try RemoteTLS.server(certificateChain: folder + "/server.pem", privateKey: folder + "/server.key")
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, liveness: Self.liveness, tls: tls)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "tls-tally", at: server.address,
                                       environment: ["MP_DEMO_TLS_CA": folder + "/ca.pem", "MP_DEMO_TLS_NAME": "localhost"])
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(worker.name == "tls-tally")
        #expect(try await worker.request(5, as: Int.self) == 5)
        #expect(try await worker.request(1, as: Int.self) == 6)
        worker.closeMailbox()
        let status = try await worker.join(timeout: .seconds(30))
        #expect(status == .exited(0), "\(status): \(launcher.transcript())")
        #expect(Self.outcome(launcher) == "done exited with code 0", "\(launcher.transcript())")

        let refused = try Self.launch("Tally", name: "untrusting", at: server.address,
                                      environment: ["MP_DEMO_TLS_CA": folder + "/other-ca.pem", "MP_DEMO_TLS_NAME": "localhost"])
        #expect(Self.outcome(refused) == "error authentication", "\(refused.transcript())")
        #expect(await refused.exitStatus() == 0)
        #expect(server.activeWorkers.isEmpty)
    }

    @Test("a remote worker joins over a Unix socket")
    func joinsOverUnixSocket() async throws {
        let path = NSTemporaryDirectory() + "mp-rw-\(getpid()).sock"
        defer { unlink(path) }
        let server = try await Multiprocessing.serveWorkers(on: .unix(path: path), authkey: Self.key)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "unix-tally", at: server.address)
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(worker.name == "unix-tally")
        #expect(try await worker.request(7, as: Int.self) == 7)
        worker.closeMailbox()
        #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        #expect(Self.outcome(launcher) == "done exited with code 0", "\(launcher.transcript())")
    }

    @Test("a foreign executable (the Python reference worker) is a remote worker too")
    func aPythonRemoteWorker() async throws {
        if let reason = PythonWorker.unavailableReason {
            print("RemoteWorkerTests: \(reason); the Python remote worker is skipped")
            return
        }
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let launcher = try Self.launch("python:" + PythonWorker.script, name: "python-remote", at: server.address)
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(worker.name == "python-remote")
        #expect(try await worker.request(["a": 1], as: [String: Int].self) == ["a": 1])
        worker.closeMailbox()
        // worker.py exits without a goodbye: here only its launcher knows its exit code.
        #expect(try await worker.join(timeout: .seconds(30)) == .disconnected)
        #expect(Self.outcome(launcher) == "done exited with code 0", "\(launcher.transcript())")
    }

    @Test("a queue is shared by a local producer and a remote consumer")
    func sharesAQueue() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let launcher = try Self.launch("QueueTaker", name: "remote-taker", at: server.address)
        let worker = try await server.nextWorker(timeout: .seconds(30))
        let queue = try Queue<QueueEntries.Tagged>()
        let producer = try await ChildProcess.start(QueueEntries.produce, QueueEntries.Produce(queue: queue, producer: 1, count: 2))
        #expect(try await producer.value == 2)
        #expect(try await worker.request(queue, as: QueueEntries.Tagged.self, timeout: .seconds(30)) == .init(producer: 1, sequence: 0))
        #expect(try await worker.request(queue, as: QueueEntries.Tagged.self, timeout: .seconds(30)) == .init(producer: 1, sequence: 1))
        worker.closeMailbox()
        _ = try await worker.join(timeout: .seconds(30))
        _ = Self.outcome(launcher)
    }

    @Test("messages reach a remote worker from the parent and a local worker; a monitor is told when its remote child is killed")
    func messagesAndMonitorOnKill() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, liveness: Self.liveness)
        defer { server.close() }
        let launcher = try Self.launch("Recorder", name: "remote-recorder", at: server.address)
        let pid = try #require(Self.startedPID(launcher))
        let remote = try await server.nextWorker(timeout: .seconds(30))
        let local = try await ChildProcess.start(Recorder.self)
        try remote.send("from the parent")
        #expect(try await local.request(["send": .uint(remote.id), "value": 7] as MessagePackValue, as: Bool.self))
        #expect(try await Self.records(of: remote, count: 2) == [["from": 0, "value": "from the parent"], ["from": .uint(local.id), "value": 7]])
        #expect(try await local.request(["watch": .uint(remote.id)] as MessagePackValue, as: Bool.self))
        kill(pid, SIGKILL)
        #expect(try await remote.join(timeout: .seconds(30)) == .disconnected)
        #expect(try await Self.records(of: local, count: 1) == [["down": .uint(remote.id), "status": ["disconnected": nil]]])
        #expect(Self.outcome(launcher) == "done killed by SIGKILL", "\(launcher.transcript())")
        local.closeMailbox()
        try await local.join()
    }

    @Test("killing the launcher kills its worker: the parent sees it disconnected", arguments: [false, true])
    func killingTheLauncherKillsTheWorker(overTLS: Bool) async throws {
        let folder = try RemoteTLSTests.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tls = overTLS ? try RemoteTLS.server(certificateChain: folder + "/server.pem", privateKey: folder + "/server.key") : nil
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, liveness: Self.liveness, tls: tls)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "orphan-tally", at: server.address, restart: "permanent",
                                       environment: overTLS ? ["MP_DEMO_TLS_CA": folder + "/ca.pem", "MP_DEMO_TLS_NAME": "localhost"] : [:])
        let pid = try #require(Self.startedPID(launcher))
        let worker = try await server.nextWorker(timeout: .seconds(30))
        let pending = Task { try await worker.request(1, as: Int.self) }
        _ = try await pending.value
        launcher.kill()
        _ = await launcher.exitStatus()
        #expect(try await worker.join(timeout: .seconds(30)) == .disconnected)
        try await waitUntil("the worker died with its launcher") { kill(pid, 0) != 0 }
        await #expect(throws: ProcessError.self) { try await worker.request(1, as: Int.self, timeout: .seconds(5)) }
    }

    @Test("a pool adopts a remote worker: its map runs on the local and the remote worker")
    func aPoolSpansHosts() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let launcher = try Self.launch("mp.pool.worker", name: "remote-pool", at: server.address)
        let remotePID = try #require(Self.startedPID(launcher))
        let pool = try await ProcessPool(RemoteWorkerEntries.pidAfter, workers: 1)
        try await pool.adopt(try await server.nextWorker(timeout: .seconds(30)))
        let pids = try await pool.map(Array(repeating: 20, count: 40), chunkSize: 1)
        #expect(pids.count == 40)
        #expect(pids.contains(remotePID), "the remote worker ran some: \(Set(pids))")
        #expect(Set(pids).count == 2)
        pool.close()
        await pool.join()
        #expect(Self.outcome(launcher) == "done exited with code 0", "\(launcher.transcript())")
    }

    @Test("a remote pool worker killed mid-task: its task runs again on another worker, and it is not replaced")
    func aPoolRedeliversARemoteWorkersTask() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, liveness: Self.liveness)
        defer { server.close() }
        let launcher = try Self.launch("mp.pool.worker", name: "doomed", at: server.address)
        let remotePID = try #require(Self.startedPID(launcher))
        let pool = try await ProcessPool(RemoteWorkerEntries.pidAfter, workers: 1, options: PoolOptions(retries: 2))
        let remote = try await server.nextWorker(timeout: .seconds(30))
        try await pool.adopt(remote)
        await #expect(throws: PoolError.self) { try await pool.adopt(remote) }
        let results = Task { try await pool.map(Array(repeating: 200, count: 10), chunkSize: 1) }
        try await Task.sleep(for: .milliseconds(300))
        kill(remotePID, SIGKILL)
        let pids = try await results.value
        #expect(pids.count == 10, "every input has its result despite the dead remote worker")
        #expect(try await remote.join(timeout: .seconds(30)) == .disconnected)
        #expect(pool.progress.rerun >= 1)
        pool.close()
        await pool.join()
        #expect(Self.outcome(launcher) == "done killed by SIGKILL", "\(launcher.transcript())")
    }

    @Test("a pool refuses to adopt a worker that does not run the pool entry")
    func aPoolRefusesAWorkerOfAnotherEntry() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "not-a-pool-worker", at: server.address)
        let worker = try await server.nextWorker(timeout: .seconds(30))
        let pool = try await ProcessPool(RemoteWorkerEntries.pidAfter, workers: 1)
        await #expect(throws: PoolError.self) { try await pool.adopt(worker) }
        pool.close()
        await pool.join()
        worker.closeMailbox()
        _ = try await worker.join(timeout: .seconds(30))
        _ = Self.outcome(launcher)
    }

    @Test("a remote worker shares no memory: a shared-memory lock there is a typed error, not a crash")
    func noSharedMemoryRemotely() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let launcher = try Self.launch("SharedProbe", name: "probe", at: server.address)
        let worker = try await server.nextWorker(timeout: .seconds(30))
        let answer = try await worker.request(0, as: String.self)
        #expect(answer.contains("arenaUnavailable") && answer.contains("remote worker"), "\(answer)")
        worker.closeMailbox()
        #expect(try await worker.join(timeout: .seconds(30)) == .exited(0))
        _ = Self.outcome(launcher)
    }

    @Test("a launcher with the wrong key gets an authentication error and nothing joins")
    func wrongKey() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "intruder", at: server.address, key: Array("wrong".utf8))
        #expect(Self.outcome(launcher) == "error authentication", "\(launcher.transcript())")
        await #expect(throws: ProcessError.self) { try await server.nextWorker(timeout: .milliseconds(200)) }
        #expect(server.activeWorkers.isEmpty)
    }

    @Test("garbage before authentication, and garbage after it, disconnect that peer; the server keeps serving")
    func garbageIsRefused() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, handshakeTimeout: .seconds(5))
        defer { server.close() }
        guard case .tcp(_, let port) = server.address else { Issue.record("not TCP"); return }
        // Before authentication: a raw socket writing garbage.
        let raw = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(raw, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(connected == 0)
        _ = write(raw, "GET / HTTP/1.0\r\n\r\n\u{0}\u{0}\u{0}\u{7}garbage", 30)
        var byte: UInt8 = 0
        while read(raw, &byte, 1) > 0 {}   // the server ends it
        close(raw)
        // After authentication: a join that is no join.
        let peer = try await Client(address: server.address, authkey: Self.key)
        try await peer.send(bytes: [0x95, 0xff, 0xff])
        await #expect(throws: (any Error).self) { _ = try await peer.receiveBytes(timeout: .seconds(10)) }
        peer.close()
        try await waitUntil("the bad join was refused") { server.refusedCount == 1 }
        // A join, then garbage frames instead of a hello.
        let joined = try await Client(address: server.address, authkey: Self.key)
        try await joined.send(bytes: try RemoteJoin(version: 1, name: "garbage", host: "test", launcher: 1).body())
        #expect(RemoteJoin.isAccepted(try await joined.receiveBytes(timeout: .seconds(10))))
        try await joined.send(bytes: [0xc1, 0xc1, 0xc1, 0xc1])
        await #expect(throws: (any Error).self) { while true { _ = try await joined.receiveBytes(timeout: .seconds(10)) } }
        joined.close()
        try await waitUntil("the garbage peer was refused") { server.refusedCount == 2 }
        // Others continue.
        let launcher = try Self.launch("Tally", name: "after-garbage", at: server.address)
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(try await worker.request(2, as: Int.self) == 2)
        worker.closeMailbox()
        _ = try await worker.join(timeout: .seconds(30))
        #expect(Self.outcome(launcher) == "done exited with code 0")
    }

    @Test("the launcher restarts a killed worker, which rejoins with a new id; past its intensity it gives up with a typed error")
    func restartsThenGivesUp() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key, liveness: Self.liveness)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "phoenix", at: server.address, restart: "permanent", intensity: 1)
        let first = try #require(Self.startedPID(launcher))
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(try await worker.request(3, as: Int.self) == 3)
        kill(first, SIGKILL)
        #expect(try await worker.join(timeout: .seconds(30)) == .disconnected)
        let second = try #require(Self.startedPID(launcher))
        let again = try await server.nextWorker(timeout: .seconds(30))
        #expect(again.id != worker.id)
        #expect(again.name == "phoenix")
        #expect(try await again.request(4, as: Int.self) == 4, "a new incarnation starts from scratch")
        kill(second, SIGKILL)
        #expect(Self.outcome(launcher) == "error intensityExceeded", "\(launcher.transcript())")
        #expect(try await again.join(timeout: .seconds(30)) == .disconnected)
        #expect(await launcher.exitStatus() == 0)
    }

    @Test("a launcher gives up when the server cannot be reached")
    func givesUpWhenUnreachable() async throws {
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        let address = server.address
        server.close()
        let launcher = try Self.launch("Tally", name: "lonely", at: address, giveUpMilliseconds: 500)
        #expect(Self.outcome(launcher) == "error unreachable", "\(launcher.transcript())")
    }

    /// This process's sockets (the server's listener and its workers' connections among them).
    static func openSockets() throws -> Set<Int32> {
        Set(try FileDescriptor.openDescriptors().filter { ((try? FileDescriptor(rawValue: $0).target()) ?? "").hasPrefix("socket:") })
    }

    @Test("nothing leaks: sockets and processes are gone once the workers ended and the server closed")
    func noLeaks() async throws {
        // A first round starts what lives as long as the runtime (the supervisor, pollers).
        func round(_ server: WorkerServer, _ number: Int) async throws -> Int32? {
            let launcher = try Self.launch("Tally", name: "leak-\(number)", at: server.address)
            let pid = Self.startedPID(launcher)
            let worker = try await server.nextWorker(timeout: .seconds(30))
            #expect(try await worker.request(number, as: Int.self) == number)
            worker.kill()
            #expect(try await worker.join(timeout: .seconds(30)) == .disconnected)
            _ = Self.outcome(launcher)
            _ = await launcher.exitStatus()
            return pid
        }
        let warmUp = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        _ = try await round(warmUp, 0)
        warmUp.close()
        try await Task.sleep(for: .milliseconds(100))
        let before = try Self.openSockets()
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: "127.0.0.1", port: 0), authkey: Self.key)
        var pids: [Int32] = []
        for number in 1...3 { if let pid = try await round(server, number) { pids.append(pid) } }
        server.close()
        #expect(pids.count == 3)
        try await waitUntil("every socket is closed") { try Self.openSockets().subtracting(before).isEmpty }
        for pid in pids { #expect(kill(pid, 0) != 0, "worker \(pid) is gone") }
    }

    // MARK: across network namespaces

    @Test("a worker in another network namespace: requests, a kill of its process, and a partition end within their timeouts",
          arguments: [false, true])
    func acrossNamespaces(overTLS: Bool) async throws {
        let network = TestNetwork.make()
        defer { network.remove() }
        let folder = try RemoteTLSTests.certificates()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tls = overTLS ? try RemoteTLS.server(certificateChain: folder + "/server.pem", privateKey: folder + "/server.key") : nil
        let server = try await Multiprocessing.serveWorkers(on: .tcp(host: network.serverHost, port: 0), authkey: Self.key,
                                                            liveness: Self.liveness, tls: tls)
        defer { server.close() }
        let launcher = try Self.launch("Tally", name: "far-tally", at: server.address, restart: "permanent", intensity: 5,
                                       giveUpMilliseconds: 4_000, network: network,
                                       environment: overTLS ? ["MP_DEMO_TLS_CA": folder + "/ca.pem", "MP_DEMO_TLS_NAME": "localhost"] : [:])
        let pid = try #require(Self.startedPID(launcher), "\(launcher.transcript())")
        let worker = try await server.nextWorker(timeout: .seconds(30))
        #expect(try await worker.request(5, as: Int.self) == 5)
        kill(pid, SIGKILL)   // one pid namespace: the test sees the remote worker's process
        #expect(try await worker.join(timeout: .seconds(30)) == .disconnected)
        let again = try await server.nextWorker(timeout: .seconds(30))
        #expect(try await again.request(1, as: Int.self) == 1)
        guard network.namespace != nil else {
            print("RemoteWorkerTests: no network namespace here (\(network.reason ?? "?")); the partition needs a link to take down, skipped")
            again.closeMailbox()
            _ = try await again.join(timeout: .seconds(30))
            launcher.kill()
            _ = await launcher.exitStatus()
            return
        }
        let watcher = try await ChildProcess.start(Recorder.self)
        #expect(try await watcher.request(["watch": .uint(again.id)] as MessagePackValue, as: Bool.self))
        network.cut()
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: ProcessError.self) { try await again.request(2, as: Int.self, timeout: .seconds(20)) }
        #expect(clock.now - start < .seconds(25), "the call ended within its timeout")
        #expect(try await again.join(timeout: .seconds(60)) == .disconnected, "the keepalive noticed the silent peer")
        #expect(try await Self.records(of: watcher, count: 1) == [["down": .uint(again.id), "status": ["disconnected": nil]]])
        // The launcher cannot reconnect across the cut link and gives up.
        #expect(Self.outcome(launcher) == "error unreachable", "\(launcher.transcript())")
        watcher.closeMailbox()
        try await watcher.join()
    }
}
