import MPTestEntries
import Multiprocessing

// The worker executable the tests spawn: it registers the test entries and, started as a
// child, runs the one it was asked for and exits.
try await Multiprocessing.bootstrap(functions: TestEntries.functions, workers: TestEntries.workers)
print("MPTestWorker: a helper the tests start as a child; it runs nothing on its own.")
