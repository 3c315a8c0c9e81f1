import Foundation
import Multiprocessing

/// `--demo-remote-client MODE ADDRESS KEY_HEX NAME`: a remote manager client started as a plain
/// program (by `ip netns exec` in another network namespace, NetworkNamespaceTests), with
/// short liveness limits so a cut link is noticed within seconds. Each line it prints is one
/// word and its values, flushed (the test reads them from a pipe).
/// - use: sets "client" to its pid in the dictionary NAME, increments "count" 10 times, prints
///   "ok COUNT" and exits.
/// - hold: makes a list and a dictionary of its own, sets "ready", prints "ready", sleeps
///   until killed.
/// - partition: sets "ready", prints "ready", waits for a line on stdin (the test cuts the link
///   first), then calls `get` and prints "outcome CODE MILLISECONDS" (CODE: the ManagerError
///   code, or "ok").
enum RemoteClientDemo {
    static let liveness = RemoteLiveness(idle: .seconds(1), interval: .seconds(1), probes: 2, unacknowledged: .seconds(3))

    static func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    static func run(_ arguments: [String]) async throws {
        guard arguments.count == 4 else { throw DemoError("usage: --demo-remote-client MODE ADDRESS KEY_HEX NAME") }
        let (mode, address, name) = (arguments[0], try ListenerAddress(parsing: arguments[1]), arguments[3])
        let key = stride(from: 0, to: arguments[2].count, by: 2).compactMap { offset -> UInt8? in
            let start = arguments[2].index(arguments[2].startIndex, offsetBy: offset)
            return UInt8(arguments[2][start..<arguments[2].index(start, offsetBy: 2)], radix: 16)
        }
        let manager = try await Manager.connect(to: address, authkey: key, timeout: .seconds(30), liveness: liveness)
        let shared = try await manager.dictionary(String.self, Int.self, name: name)
        switch mode {
        case "use":
            try await shared.set("client", Int(Multiprocessing.currentProcess.pid))
            var count = 0
            for _ in 0..<10 { count = try await shared.increment("count", by: 1) }
            say("ok \(count)")
        case "hold":
            let mine = try await manager.list(Int.self, [1, 2, 3])
            let other = try await manager.dictionary(String.self, Int.self)
            try await other.set("x", 1)
            try await shared.set("ready", 1)
            say("ready")
            try await Task.sleep(for: .seconds(600))
            _ = try await mine.count()
        case "partition":
            try await shared.set("ready", 1)
            say("ready")
            _ = readLine()
            let clock = ContinuousClock()
            let start = clock.now
            var outcome = "ok"
            do { _ = try await shared.get("ready") } catch { outcome = error.code.name }
            say("outcome \(outcome) \((clock.now - start).components.seconds * 1000 + (clock.now - start).components.attoseconds / 1_000_000_000_000_000)")
        default:
            throw DemoError("unknown mode \(mode)")
        }
    }

    struct DemoError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
