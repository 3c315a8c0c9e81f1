import ArgumentParser
import Foundation
import Multiprocessing

extension MPCtl {
    /// `mpctl worker --connect HOST:PORT --authkey-file F -- COMMAND ...`: a worker on this host
    /// that joins a supervisor on another (one that serves workers: `Multiprocessing.serveWorkers`).
    struct WorkerCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "worker",
            abstract: "Runs a worker command that joins a supervisor on another host as one of its workers.",
            discussion: """
                Connects to HOST:PORT (a supervisor serving remote workers), authenticates with the \
                key in --authkey-file (HMAC-SHA256 both ways), and starts the command with that \
                connection as its channel (fds 3 and 4), so the supervisor sends it requests like \
                any local worker. When the worker ends it is started again by --restart, at most \
                --intensity times within --period seconds; an unreachable supervisor is retried \
                with backoff for --give-up-after seconds. Exits 0 when the worker ended normally \
                and the policy does not restart it, 1 when it gave up. A scheduler (Slurm, \
                Kubernetes Jobs) runs one per slot: docs/MPCTL.md has a job file.
                """
        )

        @Option(name: .customLong("connect"), help: "The supervisor's address, HOST:PORT (or unix:PATH).")
        var address: String

        @Option(name: .customLong("authkey-file"), help: "A file holding the shared key (its bytes; a trailing newline is dropped).",
                completion: .file())
        var authkeyFile: String

        @Option(help: "For a Swift program with several entries: the one to run (its MP_ENTRY).")
        var entry: String?

        @Option(help: "The worker's name in the supervisor's messages.")
        var name: String?

        @Option(help: "permanent (restart always), transient (after a failure) or temporary (never).")
        var restart: String = "transient"

        @Option(help: "Restarts allowed within --period seconds.")
        var intensity: Int = 3

        @Option(help: "The restart intensity's window, in seconds.")
        var period: Double = 5

        @Option(name: .customLong("give-up-after"), help: "Seconds without reaching the supervisor before giving up.")
        var giveUpAfter: Double = 60

        @Option(name: .customLong("tls-ca"), help: "Connect with TLS, trusting the CA certificates in this PEM file (for a supervisor serving workers with TLS).")
        var tlsCA: String?

        @Option(name: .customLong("tls-server-name"), help: "With --tls-ca: the name the supervisor's certificate must carry (default: the host of --connect).")
        var tlsServerName: String?

        @Argument(parsing: .captureForPassthrough, help: "The worker command and its arguments (after --).")
        var command: [String] = []

        func validate() throws {
            guard !command.drop(while: { $0 == "--" }).isEmpty else { throw ValidationError("give the worker command after --") }
            guard ["permanent", "transient", "temporary"].contains(restart) else {
                throw ValidationError("--restart is permanent, transient or temporary, not \(restart)")
            }
            guard period > 0, intensity >= 0, giveUpAfter > 0 else { throw ValidationError("--period and --give-up-after must be positive") }
            guard tlsServerName == nil || tlsCA != nil else { throw ValidationError("--tls-server-name goes with --tls-ca") }
        }

        func run() async throws {
            var words = command
            if words.first == "--" { words.removeFirst() }
            let target: ListenerAddress
            do { target = try ListenerAddress(parsing: address) } catch {
                printError("mpctl worker: \(error)")
                throw ExitCode(1)
            }
            guard var key = FileManager.default.contents(atPath: authkeyFile).map(Array.init), !key.isEmpty else {
                printError("mpctl worker: cannot read a key from \(authkeyFile)")
                throw ExitCode(1)
            }
            if key.last == UInt8(ascii: "\n") { key.removeLast() }
            let folder = FileManager.default.currentDirectoryPath
            var program = words[0]
            if program.contains("/") {
                if !program.hasPrefix("/") { program = "\(folder)/\(program)" }
            } else if let found = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
                        .map({ "\($0)/\(program)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
                program = found
            } else {
                printError("mpctl worker: command not found: \(program)")
                throw ExitCode(1)
            }
            let policy: RestartPolicy = restart == "permanent" ? .permanent : (restart == "temporary" ? .temporary : .transient)
            let what: RemoteWorkerLauncher.Program = entry.map { .entry($0, executable: program) }
                ?? .executable(program, arguments: Array(words.dropFirst()))
            var launcher = RemoteWorkerLauncher(connectingTo: target, authkey: key, program: what, name: name,
                                                restart: policy, intensity: intensity, period: .milliseconds(Int64(period * 1000)))
            launcher.giveUpAfter = .milliseconds(Int64(giveUpAfter * 1000))
            if let tlsCA {
                do { launcher.tls = try RemoteTLS.client(trustRoots: tlsCA, serverName: tlsServerName) } catch {
                    printError("mpctl worker: \(error)")
                    throw ExitCode(1)
                }
            }
            launcher.onEvent = { event in printError("mpctl worker: \(event)") }
            do {
                let status = try await launcher.run()
                printError("mpctl worker: the worker \(status); done")
            } catch {
                printError("mpctl worker: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
