// Every benchmark case, by name. A later issue adds its cases in a file of their own
// (e.g. ProcessCases.swift) and appends that list here; Benchmarks/run lists the same names,
// but for the sweeps of ScalingCases.swift, which Benchmarks/plot runs and draws.
let allCases: [BenchmarkCase] = codecCases + frameCases + processCases + pipeCases + sharedMemoryCases + synchronizeCases + queueCases + largeMessageCases + poolCases + managerCases + remoteManagerCases + pipelineCases + scalingCases
