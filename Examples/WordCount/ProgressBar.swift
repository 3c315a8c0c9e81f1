import Glibc
import Multiprocessing

/// The map's progress on a terminal: one line, redrawn in place with a carriage return.
enum ProgressBar {
    /// Redraws the bar from `pool.progress` until the task is cancelled, at most 20 times a
    /// second (faster is invisible and costs the parent time it needs for reducing).
    /// `shards` is the whole map's size: an `imapUnordered` feeds the pool as it goes, so the
    /// pool's own `total` counts only what it was handed so far.
    static func draw(_ pool: ProcessPool<[String], [String: Int]>, shards: Int) async {
        var drawn: PoolProgress?
        while !Task.isCancelled {
            let progress = pool.progress
            if progress != drawn {
                draw(completed: progress.completed, of: shards, running: progress.running)
                drawn = progress
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// One frame: `\r`, the bar, the numbers, then "erase to the end of the line" so a shorter
    /// line leaves nothing of the last one behind. `running` is what the workers hold, a task
    /// sent ahead of the one each is counting included, so it can exceed the workers.
    static func draw(completed: Int, of total: Int, running: Int) {
        let width = 30
        let filled = total > 0 ? width * completed / total : width
        let percent = total > 0 ? 100 * completed / total : 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        print("\rmap [\(bar)] \(percent)%  \(completed)/\(total) shards, \(running) with the workers\u{1B}[K", terminator: "")
        fflush(nil)  // no newline, so nothing flushes the line otherwise
    }
}
