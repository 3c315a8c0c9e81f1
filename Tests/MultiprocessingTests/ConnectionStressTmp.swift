import Foundation
import Testing
@testable import Multiprocessing

@Suite(.serialized) struct ConnectionStressTmp {
    @Test func asyncLargeManyTimes() async throws {
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for i in 0..<40 {
            let (a, b) = try Connection.pair()
            async let echoed = b.receiveBytes(timeout: .seconds(20))
            try await a.send(bytes: payload)
            #expect(try await echoed == payload, "\(i)")
        }
    }
    @Test func asyncSmallPingPongMany() async throws {
        let (a, b) = try Connection.pair()
        let echo = Task { for _ in 0..<5000 { try await b.send(try await b.receive(Int.self, timeout: .seconds(20))) } }
        for i in 0..<5000 {
            try await a.send(i)
            #expect(try await a.receive(Int.self, timeout: .seconds(20)) == i)
        }
        try await echo.value
    }
}
