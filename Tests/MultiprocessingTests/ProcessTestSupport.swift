import Foundation
@testable import Multiprocessing

/// Tests start `MPTestWorker` (built beside the test bundle) as every child: in `swift test`
/// this process is the test bundle, which registers no entries (NOTES-linux.md).
enum TestWorker {
    static let path: String = {
        var bundle = URL(fileURLWithPath: try! ProcessControl.currentExecutablePath())
        // .../debug/swift-multiprocessingPackageTests.xctest -> .../debug/MPTestWorker
        bundle.deleteLastPathComponent()
        return bundle.appendingPathComponent("MPTestWorker").path
    }()

    static func use() {
        Multiprocessing.defaultExecutable = path
    }
}
