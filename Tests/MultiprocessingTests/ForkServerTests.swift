import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// The fork server (StartMethod.forkServer): children of the running executable are forked by
/// a server started once, before its `main`, instead of spawned. The test bundle's children
/// are another executable (MPTestWorker), so the checks run inside a worker, on its children.
@Suite(.serialized) struct ForkServerTests {
    init() { TestWorker.use() }

    @Test func childrenOfThisExecutableAreForkedOnceTheServerIsUpAndBehaveAsSpawnedOnes() async throws {
        // A subreaper here: a server the worker failed to reap would become our zombie.
        try ProcessControl.setChildSubreaper(true)
        defer { try? ProcessControl.setChildSubreaper(false) }
        let child = try await ChildProcess.start(TestEntries.forkServerReport, 0)
        let report = try await child.value
        #expect(try await child.join(timeout: .seconds(60)) == .exited(0))

        // `.spawn` is posix_spawn from the worker itself; the default is forked once the server
        // (started beside the first such child) is ready.
        #expect(report.spawnedParent == report.pid)
        #expect(report.startsUntilForked >= 1, "no child was forked by a server within 300 starts")
        #expect(report.serverPID > 0 && report.serverPID != report.pid)
        #expect(report.serverExecutable == report.executable)
        #expect(report.forkedParents.dropLast().allSatisfy { $0 == report.serverPID }, "\(report.forkedParents) vs server \(report.serverPID)")

        // Another environment is the child's own, forked or not; loader and allocator
        // settings are read before main, so a child asking for other ones is spawned.
        #expect(report.otherEnvironmentParent == report.serverPID)
        #expect(report.startUpEnvironmentParent == report.pid)

        // What a spawned child gets and does, a forked one gets and does.
        #expect(report.forkedResult == 49)
        #expect(report.exitStatus == "\(TerminationStatus.exited(7))")
        #expect(report.killedStatus == "\(TerminationStatus.signaled(.kill))")
        #expect(report.grandchildren.count == 5, "\(report.grandchildren)")
        #expect(report.forkedDescriptors == report.spawnedDescriptors, "forked \(report.forkedDescriptors), spawned \(report.spawnedDescriptors)")

        // A server killed -9 takes its children with it (reported as killed, nothing hangs);
        // the next start still works (spawned, or forked by a new server).
        #expect(report.orphanStatus == "\(TerminationStatus.signaled(.kill))")
        #expect(report.afterServerKilled == 9)

        // The worker's exit stopped its last server and reaped it: no process of it is left,
        // running or a zombie (handed to this subreaper).
        // The child that ran when its server was killed was handed to this subreaper (its
        // parent gone): it is dead, and reaped here as init would.
        for stray in try ProcessControl.children() where stray.isZombie && ChildProcess.activeChildren().allSatisfy({ $0.pid != stray.pid }) {
            _ = try? ProcessControl.reapChild(stray.pid)
        }
        for server in Set([report.serverPID, report.lastParent]) where server != report.pid {
            let status = ProcessControl.status(of: server)
            #expect(status == nil, "server \(server) is left: \(String(describing: status))")
            if let status, status.parentID == ProcessControl.id {
                _ = kill(server, SIGKILL)
                _ = try? ProcessControl.reapChild(server)
            }
        }
    }
}
