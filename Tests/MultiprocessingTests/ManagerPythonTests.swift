import Foundation
import MessagePack
import Testing
@testable import Multiprocessing

/// A manager client written in Python (Protocols/python/manager_client.py, raw frames built
/// with mpwire) as a child of this process's supervisor: what it writes into a named dictionary
/// this process reads in the same dictionary; its malformed frames and its call of an unknown
/// method are answered with typed errors naming what was wrong; what it held is released when
/// it ends, and the manager serves on.
@Suite(.serialized, .enabled(if: PythonWorker.unavailableReason == nil,
                             Comment(rawValue: PythonWorker.unavailableReason ?? "")))
struct ManagerPythonTests {
    init() { TestWorker.use() }

    /// Protocols/python/manager_client.py, beside the Python worker.
    static let script = URL(fileURLWithPath: PythonWorker.script).deletingLastPathComponent()
        .appendingPathComponent("manager_client.py").path

    @Test func aPythonClientSharesADictionaryWithThisProcessAndGetsTypedErrors() async throws {
        let manager = try Manager()
        let name = "python-manager-\(UUID().uuidString)"
        let client = try await ChildProcess.start(executable: "/usr/bin/env", arguments: ["python3", Self.script, name],
                                                  options: .init(name: "python-manager-client"))
        let status = try await client.join(timeout: .seconds(60))
        #expect(status == .exited(0), "the Python client found every answer as PROTOCOL.md says (else its standard error says which)")
        try await PythonWorker.expectGone(client)

        // The Python's values, in the same (named) dictionary.
        let values = try await manager.dictionary(String.self, MessagePackValue.self, name: name)
        #expect(try await values["python"] == "hello")
        #expect(try await values["a"] == 42)
        #expect(try await values["count"] == 100)
        #expect(try await values["ratio"] == .double(1.0))
        #expect(try await values["capabilities"] == [.string(ManagerWire.capability)], "the welcome agreed on the manager capability")
        let object = try #require(try await values["object"]?.unsignedValue)
        #expect(object == values.reference.object, "the same object")

        // Each bad frame was answered with a typed error saying what and where.
        let errors = try #require(try await values["errors"]?.arrayValue)
        let seen = errors.compactMap { $0.arrayValue }.map { ($0[0].stringValue ?? "", $0[1].stringValue ?? "", $0[2].stringValue ?? "") }
        #expect(seen.map(\.0) == ["wrong-count", "wrong-type", "trailing-bytes", "not-an-array", "unknown-kind", "unknown-method"])
        #expect(seen.map(\.1) == Array(repeating: "protocolViolation", count: 5) + ["unknownMethod"])
        let messages = Dictionary(uniqueKeysWithValues: seen.map { ($0.0, $0.2) })
        #expect(messages["wrong-count"]?.contains("a managerCall payload must be [object, method, arguments]; it has 2 elements") == true)
        #expect(messages["wrong-type"]?.contains("is not [object, method, arguments]") == true)
        #expect(messages["trailing-bytes"]?.contains("has bytes after [object, method, arguments]") == true)
        #expect(messages["not-an-array"]?.contains("a managerCreate payload is not [typeid, name, arguments]") == true)
        #expect(messages["unknown-kind"]?.contains("kind 71 is not a manager request") == true)
        #expect(messages["unknown-method"]?.contains("has no method \"frobnicate\"") == true)

        // The manager serves on: this process increments what the Python set.
        let counts = try await manager.dictionary(String.self, Int.self, name: name)
        #expect(try await counts.increment("a", by: 1) == 43)

        // The list the Python made and never released was released at its end.
        let list = try #require(try await values["list"]?.unsignedValue)
        var released = false
        for _ in 0..<3_000 where !released {
            do throws(ManagerError) {
                _ = try await manager.client.call(list, "count", [])
            } catch {
                #expect(error.code == .unknownObject)
                released = true
            }
            if !released { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(released, "list \(list) outlived the client that made it")
        try await values.clear()
    }
}

extension MessagePackValue {
    /// The elements, if the value is an array.
    var arrayValue: [MessagePackValue]? {
        if case .array(let v) = self { return v }
        return nil
    }
}
