import Foundation
import Pipelines

/// How `mpctl run` shows a running pipeline: a live table on a terminal, plain progress lines
/// otherwise, or JSON events (`--json`, one object per line; docs/MPCTL.md has the schema).
final class RunView: @unchecked Sendable {
    enum Mode { case live, plain, json }

    let mode: Mode
    let terminal: Terminal
    private let lock = NSLock()
    private var previous: PipelineSnapshot?
    private var rates: [String: Double] = [:]
    private let started = ContinuousClock.now

    init(mode: Mode, terminal: Terminal) {
        self.mode = mode
        self.terminal = terminal
    }

    /// One event as it happens.
    func show(_ event: PipelineEvent) {
        switch mode {
        case .json:
            terminal.line(Self.json(event, elapsed: elapsed))
        case .live, .plain:
            switch event {
            case .started(let stage, let worker, let pid):
                if mode == .plain { note("\(worker) started (pid \(pid))", stage: stage) }
            case .exited(let stage, let worker, let status):
                if status != "exited with code 0" { note("\(worker) \(status)", stage: stage) }
            case .restarting(let stage, let worker):
                note("\(worker) restarting", stage: stage)
            case .itemFailed(let stage, let worker, let item, let error):
                note("\(worker) item failed: \(Self.shortened(item, 60)): \(error)", stage: stage)
            case .scaled(let stage, let workers):
                note("\(stage) scaled to \(workers) worker\(workers == 1 ? "" : "s")", stage: stage)
            case .summary:
                break
            }
        }
    }

    /// The periodic view of the pipeline: the table redrawn, a plain line, or a progress event.
    func tick(_ snapshot: PipelineSnapshot) {
        updateRates(snapshot)
        switch mode {
        case .live: terminal.draw(table(snapshot))
        case .plain: terminal.line(plainLine(snapshot), toError: true)
        case .json: terminal.line(Self.json(["event": "progress", "elapsed": elapsed, "snapshot": Self.object(snapshot)]))
        }
    }

    /// The end: the table goes, the summary stays.
    func finish(_ summary: PipelineSummary) {
        updateRates(summary.snapshot)
        switch mode {
        case .json:
            terminal.line(Self.json(.summary(summary), elapsed: elapsed))
        case .live, .plain:
            terminal.clearTable()
            for line in summaryLines(summary) { terminal.line(line, toError: true) }
        }
    }

    private var elapsed: Double {
        let duration = ContinuousClock.now - started
        return ((Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) * 1000).rounded() / 1000
    }

    private func note(_ text: String, stage: String) {
        terminal.line(terminal.paint("mpctl", 2) + " " + terminal.paint("\(text)", terminal.color(forStage: stage)), toError: true)
    }

    private func updateRates(_ snapshot: PipelineSnapshot) {
        lock.withLock {
            if let previous, snapshot.elapsed > previous.elapsed + 0.2 {
                let seconds = snapshot.elapsed - previous.elapsed
                for stage in snapshot.stages {
                    let before = previous.stages.first { $0.name == stage.name }?.itemsIn ?? 0
                    let rate = Double(stage.itemsIn - before) / seconds
                    // Smoothed, so the column does not jump with each tick.
                    rates[stage.name] = rates[stage.name].map { 0.6 * $0 + 0.4 * rate } ?? rate
                }
                self.previous = snapshot
            } else if previous == nil {
                previous = snapshot
            }
        }
    }

    private func rate(_ stage: String) -> Double { lock.withLock { rates[stage] ?? 0 } }

    // MARK: the table

    func table(_ snapshot: PipelineSnapshot) -> [String] {
        var lines: [String] = []
        var head = terminal.paint(snapshot.name, 1) + "  " + String(format: "%.1fs", snapshot.elapsed) + "  "
        if let total = snapshot.sourceTotal, total > 0 {
            let fraction = min(1, Double(snapshot.sourceRead) / Double(total))
            let width = max(10, min(40, terminal.width - 50))
            let filled = Int(fraction * Double(width))
            head += "[" + terminal.paint(String(repeating: "#", count: filled), 32) + String(repeating: ".", count: width - filled) + "] "
            head += "\(snapshot.sourceRead)/\(total) read  \(Int(fraction * 100))%"
        } else {
            head += "\(snapshot.sourceRead) read"
        }
        head += "  \(snapshot.sinkWritten) written"
        lines.append(head)
        let columns = ["STAGE", "WORKERS", "RESTARTS", "IN", "OUT", "FAILED", "QUEUE", "ITEMS/S", "RSS"]
        var rows: [[String]] = [columns]
        for stage in snapshot.stages {
            rows.append([stage.name, "\(stage.alive)/\(stage.total)", "\(stage.restarts)", "\(stage.itemsIn)", "\(stage.itemsOut)",
                         "\(stage.failed)", stage.queueMaxsize > 0 ? "\(stage.queueDepth)/\(stage.queueMaxsize)" : "\(stage.queueDepth)",
                         String(format: "%.0f", rate(stage.name)), Self.megabytes(stage.rssBytes)])
        }
        let widths = columns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for (index, row) in rows.enumerated() {
            var text = ""
            for (column, cell) in row.enumerated() {
                let padded = column == 0 ? cell.padding(toLength: widths[0], withPad: " ", startingAt: 0)
                                         : String(repeating: " ", count: widths[column] - cell.count) + cell
                text += (column == 0 ? "" : "  ") + padded
            }
            if index == 0 {
                text = terminal.paint(text, 2)
            } else {
                let stage = snapshot.stages[index - 1]
                let name = terminal.paint(stage.name.padding(toLength: widths[0], withPad: " ", startingAt: 0), terminal.color(forStage: stage.name))
                text = name + text.dropFirst(widths[0])
                if stage.state == "failed" { text += "  " + terminal.paint("failed", 31) }
            }
            lines.append(text)
        }
        return lines
    }

    func plainLine(_ snapshot: PipelineSnapshot) -> String {
        var parts = [String(format: "%.1fs", snapshot.elapsed)]
        parts.append("source \(snapshot.sourceRead)" + (snapshot.sourceTotal.map { "/\($0)" } ?? ""))
        for stage in snapshot.stages {
            parts.append("\(stage.name) \(stage.alive)/\(stage.total) in \(stage.itemsIn) out \(stage.itemsOut) failed \(stage.failed) restarts \(stage.restarts) queue \(stage.queueDepth) \(String(format: "%.0f", rate(stage.name)))/s")
        }
        parts.append("sink \(snapshot.sinkWritten)")
        return "mpctl " + parts.joined(separator: " | ")
    }

    func summaryLines(_ summary: PipelineSummary) -> [String] {
        let snapshot = summary.snapshot
        var lines: [String] = []
        let outcome: String
        switch summary.outcome {
        case "completed": outcome = terminal.paint("completed", 32)
        case "interrupted": outcome = terminal.paint("interrupted", 33)
        default: outcome = terminal.paint("failed", 31)
        }
        lines.append("pipeline \(snapshot.name) \(outcome) in \(String(format: "%.2f", snapshot.elapsed))s: \(snapshot.sourceRead) read, \(snapshot.sinkWritten) written")
        for stage in snapshot.stages {
            lines.append("  \(stage.name): \(stage.itemsIn) in, \(stage.itemsOut) out, \(stage.failed) failed, \(stage.restarts) restart\(stage.restarts == 1 ? "" : "s"), \(stage.redelivered) redelivered, \(stage.total) worker\(stage.total == 1 ? "" : "s")")
        }
        if let failure = summary.failure {
            lines.append(terminal.paint("error:", 31) + " stage \(failure.stage): \(failure.reason)")
            if !failure.lastErrorLines.isEmpty {
                lines.append("  last lines on its workers' standard error:")
                lines += failure.lastErrorLines.map { "    " + $0 }
            }
        }
        return lines
    }

    static func megabytes(_ bytes: Int) -> String {
        bytes == 0 ? "-" : String(format: "%.1fM", Double(bytes) / 1_048_576)
    }

    static func shortened(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    // MARK: JSON (docs/MPCTL.md, "Events")

    static func json(_ event: PipelineEvent, elapsed: Double) -> String {
        switch event {
        case .started(let stage, let worker, let pid):
            return json(["event": "start", "elapsed": elapsed, "stage": stage, "worker": worker, "pid": Int(pid)])
        case .exited(let stage, let worker, let status):
            return json(["event": "exit", "elapsed": elapsed, "stage": stage, "worker": worker, "status": status])
        case .restarting(let stage, let worker):
            return json(["event": "restart", "elapsed": elapsed, "stage": stage, "worker": worker])
        case .itemFailed(let stage, let worker, let item, let error):
            return json(["event": "item_failed", "elapsed": elapsed, "stage": stage, "worker": worker, "item": item, "error": error])
        case .scaled(let stage, let workers):
            return json(["event": "scale", "elapsed": elapsed, "stage": stage, "workers": workers])
        case .summary(let summary):
            var object: [String: Any] = ["event": "summary", "elapsed": elapsed, "outcome": summary.outcome,
                                         "exit_status": Int(summary.exitStatus()), "snapshot": Self.object(summary.snapshot)]
            if let failure = summary.failure {
                object["failure"] = ["stage": failure.stage, "reason": failure.reason, "last_error_lines": failure.lastErrorLines]
            } else {
                object["failure"] = NSNull()
            }
            return json(object)
        }
    }

    /// A snapshot as a JSON object (snake_case keys, as the events').
    static func object(_ snapshot: PipelineSnapshot) -> [String: Any] {
        [
            "name": snapshot.name, "elapsed": (snapshot.elapsed * 1000).rounded() / 1000,
            "source_read": snapshot.sourceRead, "source_total": snapshot.sourceTotal.map { $0 as Any } ?? NSNull(),
            "sink_written": snapshot.sinkWritten,
            "stages": snapshot.stages.map { stage -> [String: Any] in
                ["name": stage.name, "alive": stage.alive, "total": stage.total, "restarts": stage.restarts,
                 "items_in": stage.itemsIn, "items_out": stage.itemsOut, "failed": stage.failed, "redelivered": stage.redelivered,
                 "queue_depth": stage.queueDepth, "queue_maxsize": stage.queueMaxsize, "rss_bytes": stage.rssBytes, "state": stage.state]
            },
        ]
    }

    static func json(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
