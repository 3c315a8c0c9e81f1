import Foundation
import MessagePack
import Multiprocessing
import Pipelines

/// The control socket of a running `mpctl run`: a Unix socket in an owner-only folder
/// (`$XDG_RUNTIME_DIR/mpctl`, else `/tmp/mpctl-UID`), named `PIPELINE.PID.sock`, with the
/// authkey beside it in `PIPELINE.PID.key` (mode 0600): the library's Listener, so a peer must
/// prove it read the key before anything is served. Each request is one ``ControlRequest``
/// frame, answered by one ``ControlResponse``; a frame that is not a request is answered with
/// an error and the connection closed.
final class ControlServer: Sendable {
    let socketPath: String
    let keyPath: String
    private let listener: Listener

    init(pipelineName: String, runner: PipelineRunner, directory: String? = nil) throws {
        let folder = try directory ?? ControlSocket.folder(creating: true)
        let base = "\(folder)/\(ControlSocket.safeName(pipelineName)).\(getpid())"
        socketPath = base + ".sock"
        keyPath = base + ".key"
        var key = [UInt8](repeating: 0, count: 32)
        for index in key.indices { key[index] = UInt8.random(in: 0...255) }
        unlink(socketPath)
        guard FileManager.default.createFile(atPath: keyPath, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
            throw ControlError("cannot write the control key \(keyPath)")
        }
        listener = try Listener(address: .unix(path: socketPath), authkey: key)
        chmod(socketPath, 0o600)
        let listener = self.listener
        Task {
            while !listener.isClosed {
                do {
                    let connection = try await listener.accept()
                    Task { await Self.serve(connection, runner: runner) }
                } catch is AuthenticationError {
                    continue   // a peer without the key: it was closed
                } catch {
                    if listener.isClosed { return }
                }
            }
        }
    }

    /// Stops serving and removes the socket and the key.
    func close() {
        listener.close()
        unlink(socketPath)
        unlink(keyPath)
    }

    private static func serve(_ connection: Connection, runner: PipelineRunner) async {
        defer { connection.close() }
        while true {
            let bytes: [UInt8]
            do { bytes = try await connection.receiveBytes() } catch { return }
            let request: ControlRequest
            do {
                request = try MessagePackDecoder().decode(ControlRequest.self, from: bytes)
            } catch {
                try? await connection.send(ControlResponse(error: "not a control request: \(error)"))
                return
            }
            try? await connection.send(await answer(request, runner: runner))
        }
    }

    private static func answer(_ request: ControlRequest, runner: PipelineRunner) async -> ControlResponse {
        do {
            switch request.command {
            case "status":
                return ControlResponse(snapshot: await runner.snapshot())
            case "stop":
                if let stage = request.stage {
                    try await runner.stop(stage: stage)
                } else {
                    Task { await runner.interrupt() }
                }
                return ControlResponse(snapshot: await runner.snapshot())
            case "restart":
                guard let stage = request.stage else { return ControlResponse(error: "restart needs a stage") }
                try await runner.restart(stage: stage)
                return ControlResponse(snapshot: await runner.snapshot())
            case "scale":
                guard let stage = request.stage, let count = request.count else { return ControlResponse(error: "scale needs a stage and a count") }
                try await runner.scale(stage: stage, to: count)
                return ControlResponse(snapshot: await runner.snapshot())
            default:
                return ControlResponse(error: "unknown command \"\(request.command)\" (status, stop, restart, scale)")
            }
        } catch {
            return ControlResponse(error: "\(error)")
        }
    }
}

/// One request on the control socket.
struct ControlRequest: Codable, Sendable {
    /// "status", "stop", "restart" or "scale".
    var command: String
    var stage: String?
    var count: Int?
}

/// The answer: the pipeline's snapshot after the command, or what went wrong.
struct ControlResponse: Codable, Sendable {
    var snapshot: PipelineSnapshot?
    var error: String?

    init(snapshot: PipelineSnapshot? = nil, error: String? = nil) {
        self.snapshot = snapshot
        self.error = error
    }
}

struct ControlError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Finding a running pipeline's control socket.
enum ControlSocket {
    /// `$XDG_RUNTIME_DIR/mpctl` or `/tmp/mpctl-UID`, made with mode 0700 when asked.
    static func folder(creating: Bool) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let folder = environment["MPCTL_RUNTIME_DIR"]
            ?? environment["XDG_RUNTIME_DIR"].map { "\($0)/mpctl" } ?? "/tmp/mpctl-\(getuid())"
        if creating {
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            var info = stat()
            guard stat(folder, &info) == 0, info.st_uid == getuid(), info.st_mode & 0o077 == 0 else {
                throw ControlError("the control folder \(folder) must belong to you with mode 0700")
            }
        }
        return folder
    }

    static func safeName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || "-_".contains($0) ? $0 : "_" })
    }

    /// The socket of the running pipeline named `name` (any, when nil and only one runs).
    /// Sockets of processes that are gone are removed on the way.
    static func find(pipeline name: String?) throws -> (socket: String, key: String) {
        let folder = try folder(creating: false)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var live: [(name: String, socket: String, key: String)] = []
        for file in files where file.hasSuffix(".sock") {
            let stem = String(file.dropLast(5))
            guard let dot = stem.lastIndex(of: "."), let pid = Int32(stem[stem.index(after: dot)...]) else { continue }
            let base = "\(folder)/\(stem)"
            if kill(pid, 0) != 0, errno == ESRCH {
                unlink(base + ".sock")
                unlink(base + ".key")
                continue
            }
            live.append((String(stem[..<dot]), base + ".sock", base + ".key"))
        }
        let matching = name.map { wanted in live.filter { $0.name == safeName(wanted) } } ?? live
        guard let first = matching.first else {
            throw ControlError(name.map { "no pipeline named \($0) is running (no socket in \(folder))" }
                               ?? "no pipeline is running (no socket in \(folder))")
        }
        guard matching.count == 1 else {
            throw ControlError("several pipelines are running: \(matching.map(\.name).joined(separator: ", ")); name one with --pipeline or --socket")
        }
        return (first.socket, first.key)
    }

    /// Sends one request to the socket and returns the answer.
    static func send(_ request: ControlRequest, socket: String, key: String) async throws -> ControlResponse {
        guard let authkey = FileManager.default.contents(atPath: key) else { throw ControlError("cannot read the control key \(key)") }
        let connection = try await Client(address: .unix(path: socket), authkey: Array(authkey), timeout: .seconds(5))
        defer { connection.close() }
        try await connection.send(request)
        return try await connection.receive(ControlResponse.self, timeout: .seconds(30))
    }
}
