#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims

/// The segment tracker process (`mp_tracker.c`): started by the root when it creates the
/// arena, it waits for the root's end, however it comes (SIGKILL included), then unlinks every
/// named shared memory segment still in the arena's segment table and exits.
struct TrackerProcess: Sendable {
    /// The tracker's pid (the root's child; only ``stop()`` reaps it).
    let pid: pid_t
    /// The pipe's write end, held by the root alone (close-on-exec, so no child gets it).
    let writeEnd: FileDescriptor

    /// Forks the tracker over the segment table at `table` (`slotCount` slots of `slotSize`
    /// bytes, in shared memory the tracker keeps mapped). The caller owns the result and
    /// calls ``stop()`` once. The corresponding C functions are `pipe2` and `_Fork`.
    static func start(table: UnsafeRawPointer, slotCount: Int, slotSize: Int) throws(SystemError) -> TrackerProcess {
        var writeEnd: Int32 = -1
        let pid = try valueOrErrno { mp_tracker_start(table, Int32(slotCount), Int32(slotSize), &writeEnd) }
            .get("fork", .name("segment tracker"))
        return TrackerProcess(pid: pid, writeEnd: FileDescriptor(rawValue: writeEnd))
    }

    /// Closes the write end, so the tracker walks the table (empty after a normal exit) and
    /// exits, then reaps it: no zombie is left. The corresponding C functions are `close` and
    /// `waitpid`.
    func stop() {
        _ = writeEnd._close()
        var status: Int32 = 0
        _ = valueOrErrno { waitpid(pid, &status, 0) }
    }
}
