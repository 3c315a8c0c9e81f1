import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// mpctl's one writer to standard output and error. On a terminal it keeps the live table at
/// the bottom of the screen: a line printed while the table is drawn goes above it (the table
/// is erased, the line written, the table drawn again on the next tick). Thread-safe: workers'
/// lines arrive on I/O threads.
final class Terminal: @unchecked Sendable {
    /// Whether standard error is a terminal (the live view and colors go there).
    let isInteractive: Bool
    let colors: Bool
    private let lock = NSLock()
    /// Lines of the table on screen now (0: none drawn).
    private var drawnLines = 0
    private var table: [String] = []

    init(interactive: Bool? = nil, colors: Bool? = nil) {
        let tty = interactive ?? (isatty(2) == 1)
        isInteractive = tty
        self.colors = colors ?? (tty && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
                                 && ProcessInfo.processInfo.environment["TERM"] != "dumb")
    }

    /// The terminal's width in columns (80 when unknown).
    var width: Int {
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 80
    }

    /// Writes one line to standard output (`toError`: standard error), above the table.
    func line(_ text: String, toError: Bool = false) {
        lock.withLock {
            eraseLocked()
            write(text + "\n", to: toError ? 2 : 1)
        }
    }

    /// Draws `lines` as the table, replacing the one on screen (a terminal only).
    func draw(_ lines: [String]) {
        guard isInteractive else { return }
        lock.withLock {
            table = lines
            eraseLocked()
            write(lines.map { $0 + "\n" }.joined(), to: 2)
            drawnLines = lines.count
        }
    }

    /// Takes the table off the screen for good (before the summary).
    func clearTable() {
        lock.withLock {
            eraseLocked()
            table = []
        }
    }

    /// Moves up over the table and clears to the end of the screen.
    private func eraseLocked() {
        guard drawnLines > 0 else { return }
        write("\u{1B}[\(drawnLines)F\u{1B}[J", to: 2)
        drawnLines = 0
    }

    private func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 {
                if written < 0, errno == EINTR { continue }
                return
            }
            offset += written
        }
        bytes.removeAll()
    }

    // MARK: colors

    /// `text` in the ANSI color `code` when colors are on.
    func paint(_ text: String, _ code: Int) -> String {
        colors ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// A stable color for a stage's name, so its workers' lines read as one.
    func color(forStage name: String) -> Int {
        let palette = [36, 35, 33, 32, 34, 96, 95, 93, 92, 94]
        let hash = name.unicodeScalars.reduce(UInt32(5381)) { ($0 &* 33) &+ $1.value }
        return palette[Int(hash % UInt32(palette.count))]
    }
}
