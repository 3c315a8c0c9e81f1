import Foundation
import Multiprocessing

/// `--demo-remote-worker ADDRESS KEY_HEX ENTRY NAME RESTART INTENSITY GIVE_UP_MS`: a
/// `RemoteWorkerLauncher` started as a plain program (by `ip netns exec` in another network
/// namespace, or here), with short liveness limits. One line per event, flushed:
/// ENTRY may be "python:SCRIPT" (a foreign executable). Lines: "connected", "started PID", "exited STATUS", "retrying", then "done STATUS" or
/// "error CODE" at the end (the process exits 0 either way).
enum RemoteWorkerDemo {
    static let liveness = RemoteLiveness(idle: .seconds(1), interval: .seconds(1), probes: 2, unacknowledged: .seconds(3))

    static func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    /// ENTRY is an entry of this program, or "python:SCRIPT" for a Python worker (`/usr/bin/env python3 SCRIPT`).
    static func program(_ entry: String) -> RemoteWorkerLauncher.Program {
        if entry.hasPrefix("python:") { return .executable("/usr/bin/env", arguments: ["python3", String(entry.dropFirst("python:".count))]) }
        return .entry(entry)
    }

    static func run(_ arguments: [String]) async throws {
        guard arguments.count == 7, let intensity = Int(arguments[5]), let giveUp = Int(arguments[6]) else {
            throw RemoteClientDemo.DemoError("usage: --demo-remote-worker ADDRESS KEY_HEX ENTRY NAME RESTART INTENSITY GIVE_UP_MS")
        }
        let key = stride(from: 0, to: arguments[1].count, by: 2).compactMap { offset -> UInt8? in
            let start = arguments[1].index(arguments[1].startIndex, offsetBy: offset)
            return UInt8(arguments[1][start..<arguments[1].index(start, offsetBy: 2)], radix: 16)
        }
        let restart: RestartPolicy = switch arguments[4] {
        case "temporary": .temporary
        case "transient": .transient
        default: .permanent
        }
        var launcher = RemoteWorkerLauncher(connectingTo: try ListenerAddress(parsing: arguments[0]), authkey: key,
                                            program: program(arguments[2]), name: arguments[3],
                                            restart: restart, intensity: intensity, period: .seconds(30))
        launcher.liveness = liveness
        // TLS when asked: MP_DEMO_TLS_CA (a CA's PEM file) and MP_DEMO_TLS_NAME (the server's name).
        if let ca = ProcessInfo.processInfo.environment["MP_DEMO_TLS_CA"] {
            launcher.tls = try RemoteTLS.client(trustRoots: ca, serverName: ProcessInfo.processInfo.environment["MP_DEMO_TLS_NAME"])
        }
        launcher.giveUpAfter = .milliseconds(giveUp)
        launcher.maximumBackoff = .milliseconds(500)
        launcher.connectTimeout = .seconds(5)
        launcher.onEvent = { event in
            switch event {
            case .connected: say("connected")
            case .started(let pid): say("started \(pid)")
            case .exited(let status): say("exited \(status)")
            case .retrying: say("retrying")
            }
        }
        do {
            let status = try await launcher.run()
            say("done \(status)")
        } catch let error as RemoteWorkerError {
            say("error \(error.code)")
            FileHandle.standardError.write(Data("\(error)\n".utf8))
        }
    }
}
