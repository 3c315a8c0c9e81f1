import Testing
@testable import Multiprocessing

/// Polls `condition` every 10 ms until it holds (never a timed assertion: it only gives up
/// after `limit`, and then records that it never became true).
func waitUntil(_ what: String, limit: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: limit)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("never became true: \(what)")
}

/// How many objects the default runtime's manager holds (read on its loop).
func managerObjectCount() async throws -> Int {
    let service = try Runtime.current.managerService
    return try await withCheckedThrowingContinuation { continuation in
        service.withObjects { continuation.resume(returning: $0.objectCount) }
    }
}
