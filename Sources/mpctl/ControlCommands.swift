import ArgumentParser
import Foundation
import Pipelines

/// Which running pipeline a control command talks to.
struct ControlTarget: ParsableArguments {
    @Option(name: .customLong("pipeline"), help: "The pipeline's name (needed when several run).")
    var pipeline: String?

    @Option(help: "The control socket's path (its key is beside it, .key for .sock).", completion: .file())
    var socket: String?

    /// Sends `request` and returns the answer; an error answer is printed and exits 1.
    func send(_ request: ControlRequest) async throws -> PipelineSnapshot? {
        let (socketPath, keyPath): (String, String)
        do {
            if let socket {
                (socketPath, keyPath) = (socket, socket.hasSuffix(".sock") ? String(socket.dropLast(5)) + ".key" : socket + ".key")
            } else {
                (socketPath, keyPath) = try ControlSocket.find(pipeline: pipeline)
            }
            let response = try await ControlSocket.send(request, socket: socketPath, key: keyPath)
            if let error = response.error {
                printError("mpctl: \(error)")
                throw ExitCode(1)
            }
            return response.snapshot
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("mpctl: \(error)")
            throw ExitCode(1)
        }
    }
}

extension MPCtl {
    /// `mpctl status`: the table of a running pipeline, once or `--watch`.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shows a running pipeline's table (stages, workers, restarts, items, queues, rates, memory).")

        @OptionGroup var target: ControlTarget

        @Flag(help: "Redraw the table every --interval seconds until the pipeline ends or Ctrl-C.")
        var watch = false

        @Option(help: "Seconds between redraws with --watch.")
        var interval: Double = 1

        @Flag(help: "Print the snapshot as one JSON object instead of the table.")
        var json = false

        func run() async throws {
            let terminal = Terminal()
            let view = RunView(mode: .live, terminal: terminal)
            var shown = false
            repeat {
                if shown { try await Task.sleep(for: .milliseconds(Int64(max(0.1, interval) * 1000))) }
                let snapshot: PipelineSnapshot?
                do {
                    snapshot = try await target.send(ControlRequest(command: "status"))
                } catch where shown {
                    return   // the pipeline ended while watched
                }
                shown = true
                guard let snapshot else { return }
                view.tick(snapshot)
                if json {
                    terminal.line(RunView.json(RunView.object(snapshot)))
                } else if watch && terminal.isInteractive {
                    terminal.draw(view.table(snapshot))
                } else {
                    for line in view.table(snapshot) { terminal.line(line) }
                }
            } while watch
        }
    }

    /// `mpctl stop [STAGE]`: stops a running pipeline (as Ctrl-C does), or pauses one stage.
    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stops a running pipeline in order, or one stage's workers (the stage waits until scaled up).")

        @OptionGroup var target: ControlTarget

        @Argument(help: "A stage to stop; the whole pipeline when absent.")
        var stage: String?

        func run() async throws {
            _ = try await target.send(ControlRequest(command: "stop", stage: stage))
            print(stage.map { "stopped stage \($0) (scale it up to resume)" } ?? "stopping the pipeline")
        }
    }

    /// `mpctl restart STAGE`: restarts a stage's workers one after the other.
    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restarts every worker of a stage, one after the other (not counted against its restart intensity).")

        @OptionGroup var target: ControlTarget

        @Argument(help: "The stage.")
        var stage: String

        func run() async throws {
            _ = try await target.send(ControlRequest(command: "restart", stage: stage))
            print("restarted stage \(stage)")
        }
    }

    /// `mpctl scale STAGE N`: runs N workers in a stage from now on.
    struct Scale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Runs N workers in a stage from now on (surplus workers finish their item first; 0 pauses the stage).")

        @OptionGroup var target: ControlTarget

        @Argument(help: "The stage.")
        var stage: String

        @Argument(help: "How many workers.")
        var count: Int

        func validate() throws {
            guard count >= 0 else { throw ValidationError("a stage cannot run \(count) workers") }
        }

        func run() async throws {
            _ = try await target.send(ControlRequest(command: "scale", stage: stage, count: count))
            print("stage \(stage) scaled to \(count) worker\(count == 1 ? "" : "s")")
        }
    }
}
