import Multiprocessing

/// The entries the remote manager tests start in `MPTestWorker` children (RemoteManagerTests):
/// each connects to a manager served at an address, as a process on another host would.
public enum RemoteManagerEntries {
    /// Where the manager is served, with what key, and what to do there.
    public struct Job: Codable, Sendable {
        public var address: String
        public var authkey: [UInt8]
        /// The dictionary to use, found by name.
        public var name: String
        /// How many times to increment "count" in it.
        public var increments: Int
        public init(address: String, authkey: [UInt8], name: String, increments: Int) {
            self.address = address; self.authkey = authkey; self.name = name; self.increments = increments
        }
    }

    static func connect(_ job: Job) async throws -> Manager {
        try await Manager.connect(to: try ListenerAddress(parsing: job.address), authkey: job.authkey, timeout: .seconds(30))
    }

    /// Connects, sets "child" to its pid in the named dictionary, increments "count" atomically
    /// `increments` times, and answers what "parent" holds.
    public static let use = ProcessFunction("remote-manager-use") { (job: Job) -> Int in
        let manager = try await connect(job)
        let shared = try await manager.dictionary(String.self, Int.self, name: job.name)
        try await shared.set("child", Int(Multiprocessing.currentProcess.pid))
        for _ in 0..<job.increments { _ = try await shared.increment("count", by: 1) }
        return try await shared.get("parent") ?? -1
    }

    /// Connects, makes a list and a dictionary of its own, sets "ready" in the named
    /// dictionary, then sleeps until killed (the server must then release what it held).
    public static let holdAndSleep = ProcessFunction("remote-manager-hold-and-sleep") { (job: Job) -> Int in
        let manager = try await connect(job)
        let mine = try await manager.list(Int.self, [1, 2, 3])
        let other = try await manager.dictionary(String.self, Int.self)
        try await other.set("x", 1)
        try await manager.dictionary(String.self, Int.self, name: job.name).set("ready", 1)
        try await Task.sleep(for: .seconds(600))
        return try await mine.count()   // keeps `mine` alive until here
    }

    public static let functions: [any ProcessEntry] = [use, holdAndSleep]
}
