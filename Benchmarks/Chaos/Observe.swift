import Foundation

// What the runner reads from /proc and /dev/shm: the processes under it, its descriptors,
// the shared-memory segments, its resident memory. Read, never changed.

enum Observe {
    /// One process under /proc.
    struct ProcessEntry {
        var pid: Int32
        var parent: Int32
        var state: Character
    }

    /// Every process on the machine, from /proc/PID/stat (those that vanish meanwhile are skipped).
    static func processes() -> [ProcessEntry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> ProcessEntry? in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // "pid (comm) S ppid ...": the name may hold spaces and parentheses, so split after the last ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let state = fields[0].first, let parent = Int32(fields[1]) else { return nil }
            return ProcessEntry(pid: pid, parent: parent, state: state)
        }
    }

    /// The processes under `root` (children, grandchildren, ...), not `root` itself.
    static func descendants(of root: Int32, in table: [ProcessEntry] = processes()) -> [ProcessEntry] {
        var byParent: [Int32: [ProcessEntry]] = [:]
        for entry in table { byParent[entry.parent, default: []].append(entry) }
        var found: [ProcessEntry] = []
        var frontier = [root]
        while let next = frontier.popLast() {
            for child in byParent[next] ?? [] {
                found.append(child)
                frontier.append(child.pid)
            }
        }
        return found
    }

    /// Descendants of `root` without children of their own: the workers of a tree (a fork
    /// server or a launcher has children while its workers run).
    static func leaves(under root: Int32) -> [Int32] {
        let table = processes()
        let under = descendants(of: root, in: table)
        let parents = Set(table.map(\.parent))
        return under.filter { !parents.contains($0.pid) && $0.state != "Z" }.map(\.pid)
    }

    /// This process's open descriptors and what each is ("pipe:[123]", "socket:[9]"): a number
    /// reused for another object counts as another descriptor.
    static func openDescriptorTargets() -> [Int32: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        var targets: [Int32: String] = [:]
        for name in names {
            guard let fd = Int32(name), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)") else { continue }
            targets[fd] = target
        }
        return targets
    }

    /// The names in /dev/shm.
    static func segments() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [])
    }

    /// The resident memory of `pid` in bytes (VmRSS), 0 if it is gone.
    static func residentBytes(of pid: Int32 = getpid()) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kib = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kib * 1024
        }
        return 0
    }
}
