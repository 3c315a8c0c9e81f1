#ifndef MP_TRACKER_H
#define MP_TRACKER_H
// The segment tracker process: cleans up named shared memory segments after the root of a
// process tree died, however it died (SharedMemory/SegmentTracker.swift).
#include <sys/types.h>

/// Starts the tracker: a process forked (`_Fork`, so no `atfork` handler runs) that keeps
/// only the read end of a new pipe, blocks in `read` until end of file (every holder of the
/// write end, that is the caller, is gone), then unlinks `/dev/shm/NAME` for every live slot
/// of the segment table at `table` (`slotCount` slots of `slotSize` bytes: +0 state, 1 =
/// live; +16 the name's length; +24 its bytes), and exits. Until then it calls only
/// async-signal-safe functions, and it ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT.
/// Returns the tracker's pid and stores the write end (close-on-exec) in `*writeEnd`, or
/// returns -1 with `errno` set (nothing is left open or running then).
pid_t mp_tracker_start(const void *table, int slotCount, int slotSize, int *writeEnd);

#endif
