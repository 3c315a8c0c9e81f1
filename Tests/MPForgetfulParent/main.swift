import Multiprocessing

// A program that forgets `Multiprocessing.bootstrap` and starts a child (FrontDoorTests).
// Started again as its own child, it would reach this line again and start another, endlessly;
// the runtime must refuse the first start with one clear error instead.
let square = ProcessFunction("square") { (x: Int) in x * x }
print(try await ChildProcess.run(square, 7))
