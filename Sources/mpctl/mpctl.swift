import ArgumentParser
import Multiprocessing

@main
struct MPCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpctl",
        abstract: "Runs and supervises pipelines of worker processes.",
        discussion: """
            A pipeline file (YAML) declares queues, a source, stages of worker processes and a \
            sink; docs/MPCTL.md describes it. Check one with `mpctl check FILE`.
            """,
        version: Multiprocessing.version,
        subcommands: [Check.self]
    )
}
