import Multiprocessing

/// The entries the manager tests start in `MPTestWorker` children (ManagerTests).
public enum ManagerEntries {
    /// Which dictionary to increment, which key, how many times.
    public struct Increments: Codable, Sendable {
        public var counts: SharedDictionary<String, Int>
        public var key: String
        public var times: Int
        public init(counts: SharedDictionary<String, Int>, key: String, times: Int) {
            self.counts = counts; self.key = key; self.times = times
        }
    }

    /// Increments `key` `times` times, atomically; returns the last value it saw.
    public static let increment = ProcessFunction("manager-increment") { (job: Increments) -> Int in
        var last = 0
        for _ in 0..<job.times { last = try await job.counts.increment(job.key, by: 1) }
        return last
    }

    /// Python's `d[k] += 1` through a proxy: a get, then a set. Loses updates when two run.
    public static let unsafeIncrement = ProcessFunction("manager-unsafe-increment") { (job: Increments) -> Int in
        for _ in 0..<job.times {
            let old = try await job.counts.get(job.key) ?? 0
            try await job.counts.set(job.key, old + 1)
        }
        return job.times
    }

    /// Finds the dictionary named `name` through the child's own `Manager()` and sets
    /// "child" to its pid, then answers what "parent" holds.
    public static let useNamed = ProcessFunction("manager-use-named") { (name: String) -> Int in
        let manager = try Manager()
        let shared = try await manager.dictionary(String.self, Int.self, name: name)
        try await shared.set("child", Int(Multiprocessing.currentProcess.pid))
        return try await shared.get("parent") ?? -1
    }

    /// The outcome of operations that must fail, by name: the `ManagerError` code, or "ok".
    public static let probe = ProcessFunction("manager-probe") { (counts: SharedDictionary<String, Int>) -> [String: String] in
        var outcomes: [String: String] = [:]
        func record(_ name: String, _ body: () async throws -> Void) async {
            do {
                try await body()
                outcomes[name] = "ok"
            } catch let error as ManagerError {
                outcomes[name] = error.code.name
            } catch {
                outcomes[name] = "\(type(of: error))"
            }
        }
        await record("popMissing") { _ = try await counts.pop("missing") }
        await record("valueForMissing") { _ = try await counts.value(forKey: "missing") }
        // The same object read as a dictionary of strings: "n" holds an Int.
        let asStrings = SharedDictionary<String, String>(reference: counts.reference)
        await record("wrongType") { _ = try await asStrings.get("n") }
        await record("incrementAString") {
            try await asStrings.set("s", "text")
            _ = try await counts.increment("s", by: 1)
        }
        await record("increment") { _ = try await counts.increment("n", by: 1) }
        return outcomes
    }

    /// Makes a list and a dictionary of its own, puts a value in the parent's dictionary so
    /// the parent knows, then sleeps until killed (its references must then be released).
    public static let holdAndSleep = ProcessFunction("manager-hold-and-sleep") { (counts: SharedDictionary<String, Int>) -> Int in
        let manager = try Manager()
        let mine = try await manager.list(Int.self, [1, 2, 3])
        let other = try await manager.dictionary(String.self, Int.self)
        try await other.set("x", 1)
        try await counts.set("ready", 1)
        try await Task.sleep(for: .seconds(600))
        return try await mine.count()   // keeps `mine` alive until here
    }

    /// Appends `count` numbers to a shared list.
    public struct Appends: Codable, Sendable {
        public var list: SharedList<Int>
        public var from: Int
        public var count: Int
        public init(list: SharedList<Int>, from: Int, count: Int) { self.list = list; self.from = from; self.count = count }
    }
    public static let appendNumbers = ProcessFunction("manager-append-numbers") { (job: Appends) -> Int in
        for value in job.from..<(job.from + job.count) { try await job.list.append(value) }
        return try await job.list.count()
    }

    /// Sets the namespace's attributes "answer" and "greeting" and reads back "question".
    public static let useNamespace = ProcessFunction("manager-use-namespace") { (namespace: Namespace) -> String in
        try await namespace.answer.set(42)
        try await namespace.greeting.set("hello")
        return try await namespace.question.get(String.self) ?? "none"
    }

    /// A custom type the tests register in the parent: a running total.
    public struct Tally: ManagedType {
        public static let typeID = "test.Tally"
        public var total: Int
        public init(_ start: Int) { total = start }

        public static let add = ManagedMethod<Tally, Int, Int>("add") { tally, amount in
            tally.total += amount
            return tally.total
        }
        public static let total = ManagedMethod<Tally, NoArgument, Int>("total") { tally, _ in tally.total }
        /// Fails for a negative amount.
        public static let checkedAdd = ManagedMethod<Tally, Int, Int>("checkedAdd") { tally, amount in
            guard amount >= 0 else { throw TallyError.negative(amount) }
            tally.total += amount
            return tally.total
        }
        /// Moves `part` into a new tally (Python's method_to_typeid).
        public static let split = ManagedFactoryMethod<Tally, Int, Tally>("split") { tally, part in
            tally.total -= part
            return Tally(part)
        }
        public static let exposed = [add.exposed, total.exposed, checkedAdd.exposed, split.exposed]
    }

    public enum TallyError: Error { case negative(Int) }

    /// Adds 1 to a tally `times` times from a child.
    public struct TallyJob: Codable, Sendable {
        public var tally: ManagedProxy<Tally>
        public var times: Int
        public init(tally: ManagedProxy<Tally>, times: Int) { self.tally = tally; self.times = times }
    }
    public static let addToTally = ProcessFunction("manager-add-to-tally") { (job: TallyJob) -> Int in
        var last = 0
        for _ in 0..<job.times { last = try await job.tally.call(Tally.add, 1) }
        return last
    }

    /// Gets a proxy from a queue and increments "relayed" through it.
    public static let incrementFromQueue = ProcessFunction("manager-increment-from-queue") { (queue: Queue<SharedDictionary<String, Int>>) -> Int in
        let counts = try await queue.get()
        return try await counts.increment("relayed", by: 1)
    }

    public static let functions: [any ProcessEntry] = [increment, unsafeIncrement, useNamed, probe, holdAndSleep, appendNumbers,
                                                       useNamespace, addToTally, incrementFromQueue]
}
