import ArgumentParser
import Multiprocessing

@main
struct MPCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpctl",
        abstract: "Runs and supervises pipelines of worker processes.",
        discussion: """
            A pipeline file (YAML) declares queues, a source, stages of worker processes and a \
            sink; docs/MPCTL.md describes it. Check one with `mpctl check FILE`, run it with \
            `mpctl run FILE`, and reach a running one with `mpctl status`, `stop`, `restart` and \
            `scale`. `mpctl exec` runs an ad-hoc pool over standard input; `mpctl worker` joins a \
            supervisor on another host.
            """,
        version: Multiprocessing.version,
        subcommands: [Run.self, Check.self, Status.self, Stop.self, Restart.self, Scale.self, Exec.self, WorkerCommand.self]
    )

    /// mpctl starts its workers through itself (a trampoline that ties their lives to its own
    /// before it `exec`s them), so it bootstraps before anything else.
    static func main() async {
        do {
            try await Multiprocessing.bootstrap()
        } catch {
            printError("mpctl: \(error)")
            return
        }
        await main(nil)
    }
}
