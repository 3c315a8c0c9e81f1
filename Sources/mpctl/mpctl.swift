import ArgumentParser
import Multiprocessing

@main
struct MPCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpctl",
        abstract: "Runs and supervises pipelines of worker processes.",
        discussion: "Pipelines, `run`, `exec` and `check` arrive with the supervisor (issue 3).",
        version: Multiprocessing.version
    )
}
