import Foundation
import Testing
@testable import Multiprocessing

/// A peer that speaks raw bytes to a listener: what an attacker or a broken program sends.
/// A blocking socket; every read waits 30 s at most.
final class RawPeer: @unchecked Sendable {
    let socket: FileDescriptor
    private var closed = false

    init(_ address: ListenerAddress) throws {
        let target = try address.socketAddresses(passive: false)[0]
        socket = try FileDescriptor.socket(family: target.family)
        do { try socket.connect(target) } catch {
            try? socket.close()
            throw error
        }
    }

    init(adopting socket: FileDescriptor) { self.socket = socket }

    /// One frame's body (4-byte big-endian length first).
    func readFrame() throws -> [UInt8] {
        let header = try read(exactly: 4)
        let length = Int(UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
        return try read(exactly: length)
    }

    func write(_ bytes: [UInt8]) throws { try socket.writeAll(bytes) }

    /// Everything until the other side closes (a reset counts as closed).
    func readToEnd() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            guard try socket.waitUntilReadable(timeout: .seconds(30)) else { throw RawPeerError.timedOut }
            var chunk = [UInt8](repeating: 0, count: 4096)
            switch chunk.withUnsafeMutableBytes({ socket._read(into: $0) }) {
            case .success(0), .failure(.connectionReset): return bytes
            case .success(let count): bytes += chunk[..<count]
            case .failure(let errno): throw errno
            }
        }
    }

    private func read(exactly count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            guard try socket.waitUntilReadable(timeout: .seconds(30)) else { throw RawPeerError.timedOut }
            let chunk = try socket.read(upToCount: count - bytes.count)
            if chunk.isEmpty { throw RawPeerError.endOfFile(bytes.count, count) }
            bytes += chunk
        }
        return bytes
    }

    func close() {
        if closed { return }
        closed = true
        try? socket.close()
    }

    deinit { close() }
}

enum RawPeerError: Error {
    case timedOut
    case endOfFile(Int, Int)
}

/// A listening TCP socket on the loopback that does nothing but accept: a listener that
/// breaks off the handshake.
final class RawListener: @unchecked Sendable {
    let socket: FileDescriptor
    let address: ListenerAddress

    init() throws {
        let loopback = try SocketAddress.resolve(host: "127.0.0.1", port: 0)[0]
        socket = try FileDescriptor.socket(family: loopback.family)
        try socket.bind(loopback)
        try socket.listen(backlog: 4)
        address = ListenerAddress(try socket.localAddress())
    }

    func accept() throws -> RawPeer {
        guard try socket.waitUntilReadable(timeout: .seconds(30)) else { throw RawPeerError.timedOut }
        return RawPeer(adopting: try socket.accept())
    }

    func close() { try? socket.close() }
}

/// The Python interpreter the interop tests run, and the peer script
/// (Protocols/python/connection_peer.py).
struct PythonInterpreter: Sendable {
    let command: String
    /// 3.12 or later: the script uses the standard library's handshake itself.
    let isModern: Bool
}

enum PythonPeer {
    static let script: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocols/python/connection_peer.py").path

    /// The newest of python3.13, python3.12 and python3 that runs here; nil (with the reason
    /// printed) when none does.
    static let interpreter: PythonInterpreter? = {
        for command in ["python3.13", "python3.12", "python3"] {
            let check = Foundation.Process()
            check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            check.arguments = [command, "-c", "import sys; print(sys.version_info >= (3, 12))"]
            let output = Pipe()
            check.standardOutput = output
            check.standardError = FileHandle.nullDevice
            guard (try? check.run()) != nil else { continue }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            check.waitUntilExit()
            if check.terminationStatus == 0 {
                return PythonInterpreter(command: command, isModern: text.hasPrefix("True"))
            }
        }
        print("ListenerTests: no python3 here; the Python interop tests are skipped")
        return nil
    }()

    static func start(_ python: PythonInterpreter, _ mode: String, _ address: String, key: [UInt8]) throws -> RunningPythonPeer {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python.command, script, mode, address, key.map { String(format: "%02x", $0) }.joined()]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        return RunningPythonPeer(process: process, output: output, errors: errors)
    }
}

/// A running connection_peer.py.
final class RunningPythonPeer: @unchecked Sendable {
    let process: Foundation.Process
    let output: Pipe
    let errors: Pipe

    init(process: Foundation.Process, output: Pipe, errors: Pipe) {
        self.process = process
        self.output = output
        self.errors = errors
    }

    /// The first line it prints (a listener's address).
    func firstLine() throws -> String {
        var line: [UInt8] = []
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte.first == UInt8(ascii: "\n") { break }
            line.append(byte.first!)
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// Its exit status, once it ended (killed after 30 s).
    func exitStatus() async throws -> Int32 {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while process.isRunning {
            if ContinuousClock.now > deadline { process.terminate() }
            try await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    /// What it printed, for a failure's message (call once it ended).
    func transcript() -> String {
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return "stdout: \(out) stderr: \(err)"
    }
}
