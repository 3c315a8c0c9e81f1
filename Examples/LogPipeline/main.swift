// The Swift stages of the LogPipeline example (pipeline.yaml): mpctl starts this program once
// per worker with MP_ENTRY naming the stage's Worker. Run by hand, it checks a run's output:
//   LogPipelineStages summarize out/tallies.txt 200
import Glibc
import Multiprocessing

// A worker is this program started again: it runs its stage here and never returns.
try await Multiprocessing.bootstrap(workers: [Generate.self, Enrich.self, Aggregate.self])

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count == 3, arguments[0] == "summarize", let seeds = Int(arguments[2]) {
    exit(summarize(file: arguments[1], seeds: seeds))
}
print("""
    usage: LogPipelineStages summarize FILE SEEDS
    The stages (Generate, Enrich, Aggregate) run under mpctl: mpctl run Examples/LogPipeline/pipeline.yaml
    """)
exit(arguments.isEmpty ? 0 : 2)
