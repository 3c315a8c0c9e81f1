import Foundation
import Multiprocessing

/// Entries of every arity, with and without a result, and ones that report names (the
/// Python-shaped API: ArityTests, ProcessNameTests, ConnectionParityTests).
public enum ApiEntries {
    /// No argument, a result.
    public static let answer = ProcessFunction("api.answer") { () in 42 }
    /// No argument, no result: exits 0 once it returned.
    public static let idle = ProcessFunction("api.idle") { () in }
    /// One argument, no result: writes "done" to the path.
    public static let touch = ProcessFunction("api.touch") { (path: String) in
        try Data("done".utf8).write(to: URL(fileURLWithPath: path))
    }
    /// Two arguments of different types.
    public static let repeatText = ProcessFunction("api.repeat") { (count: Int, text: String) in
        String(repeating: text, count: count)
    }
    /// Three arguments.
    public static let sum3 = ProcessFunction("api.sum3") { (a: Int, b: Int, c: Int) in a + b + c }
    /// Four arguments, in order.
    public static let describe4 = ProcessFunction("api.describe4") { (a: Int, b: String, c: Double, d: [Int]) in
        "\(a) \(b) \(c) \(d)"
    }
    /// Two arguments and the context: its own name with the sum.
    public static let namedSum = ProcessFunction("api.namedSum") { (a: Int, b: Int, context: WorkerContext) in
        "\(context.name): \(a + b)"
    }
    /// Two arguments, no result, and throws when the second is negative.
    public static let check = ProcessFunction("api.check") { (value: Int, limit: Int) in
        if value > limit { throw CheckFailed() }
    }

    /// This child's name, then the default names of two children it starts (and what they
    /// call themselves): Python's "Process-N:M".
    public static let nameChildren = ProcessFunction("api.nameChildren") { () -> [String] in
        var names = [Multiprocessing.currentProcess.name]
        for _ in 0..<2 {
            let child = try await ChildProcess.start(TestEntries.whoAmI, 0)
            names.append(child.name)
            names.append(try await child.value.name)
            try await child.join()
        }
        return names
    }

    /// Reads the one-way connection passed as "reader" until the writer closes; returns the
    /// frames it got, and whether a send on it was refused as the wrong direction.
    public static let readOneWay = ProcessFunction("api.readOneWay") { () -> [String] in
        let reader = try Connection.inherited("reader")
        defer { reader.close() }
        var received: [String] = []
        do { try reader.send("no") } catch let error as ConnectionError where error.code == .wrongDirection {
            received.append("refused")
        }
        while let text = try? reader.receive(String.self) { received.append(text) }
        return received
    }

    static let functions: [any ProcessEntry] = [answer, idle, touch, repeatText, sum3, describe4, namedSum, check,
                                                nameChildren, readOneWay]
}

/// The error `api.check` throws.
public struct CheckFailed: Error, CustomStringConvertible {
    public var description: String { "the value is above the limit" }
}
