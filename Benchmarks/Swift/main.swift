#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Multiprocessing

// Children of the process cases are this executable started again: it runs their entry here.
try await Multiprocessing.bootstrap(functions: processEntries + pipeEntries + sharedMemoryEntries + synchronizeEntries + queueEntries + poolEntries + managerEntries + scalingEntries, workers: processWorkers + largeMessageWorkers)

// MPBenchmarks [--quick] [--samples N] [--sample-seconds S] CASE... | --list | all
// Prints one JSON line per case on stdout (see Harness.swift); exits 1 if any case failed.

let usage = """
    usage: MPBenchmarks [--quick] [--samples N] [--sample-seconds S] CASE... | all
           MPBenchmarks --list
    """

var settings = BenchmarkSettings.full
var names: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--quick": settings = .quick
    case "--list":
        for benchmark in allCases { print("\(benchmark.name)\t\(benchmark.unit)\t\(benchmark.summary)") }
        exit(0)
    case "--samples":
        guard let value = arguments.popFirst().flatMap(Int.init), value > 0 else { print(usage); exit(2) }
        settings.samples = value
    case "--sample-seconds":
        guard let value = arguments.popFirst().flatMap(Double.init), value > 0 else { print(usage); exit(2) }
        settings.sampleSeconds = value
    case "-h", "--help": print(usage); exit(0)
    case "all": names += allCases.map(\.name)
    default:
        if argument.hasPrefix("-") { print(usage); exit(2) }
        names.append(argument)
    }
}
if names.isEmpty { print(usage); exit(2) }

var failed = false
for name in names {
    guard let benchmark = allCases.first(where: { $0.name == name }) else {
        print(errorLine(name, BenchmarkFailure("no such case (MPBenchmarks --list)")))
        failed = true
        continue
    }
    do {
        let report = try await benchmark.run(settings)
        print(resultLine(benchmark, report))
    } catch {
        print(errorLine(name, error))
        failed = true
    }
    fflush(nil)  // every stream: `stdout` is not concurrency-safe in Swift 6
}
exit(failed ? 1 : 0)
