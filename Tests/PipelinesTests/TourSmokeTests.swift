import Foundation
import Testing

/// The two tours (`make tours`), run as built: each ends with its last section, exit 0.
@Suite("tours")
struct TourSmokeTests {
    @Test("CodecTour ends with the typed errors of bad input")
    func codecTour() async throws {
        let folder = try RunFixture.folder([:])
        let run = try MPCtl([], in: folder, executable: RunFixture.buildFolder + "/CodecTour")
        #expect(await run.wait(limit: .seconds(60)) == 0, "stderr: \(run.errors)")
        #expect(run.output.contains("oversized frame: frameTooLarge: frame declares 2147483647 bytes"), "output: \(run.output)")
    }

    @Test("ProcessTour ends with a killed worker restarted by its supervisor and no child left")
    func processTour() async throws {
        let folder = try RunFixture.folder([:])
        let run = try MPCtl([], in: folder, executable: RunFixture.buildFolder + "/ProcessTour")
        #expect(await run.wait(limit: .seconds(60)) == 0, "stderr: \(run.errors)")
        #expect(run.output.range(of: #"killed; restarted as pid \d+, which answers 7"#, options: .regularExpression) != nil, "output: \(run.output)")
        #expect(run.output.contains("shut down; children left: 0"), "output: \(run.output)")
    }
}
