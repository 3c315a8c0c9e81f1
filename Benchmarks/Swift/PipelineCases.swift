import Glibc

// mpctl (issue 14): the per-item cost of its default path, a pipeline stage of Python workers
// fed from standard input with results in input order. Python peer: Pool(2).imap with
// chunksize=1 (Benchmarks/python/cases_pipeline.py): one item per message, in order, the same
// trivial function in a Python worker on both sides. Plain Glibc here: Foundation's Process
// would pull ICU into this statically linked binary.

/// Items per sample (the quick run's, then the full run's).
private func pipelineItems(_ settings: BenchmarkSettings) -> Int { settings.sampleSeconds < 0.2 ? 4_000 : 20_000 }

/// `mpctl exec` running, with its standard input and output at our end of two pipes.
private struct RunningExec {
    let pid: pid_t
    let input: Int32     // we write lines here
    let output: Int32    // and read the results here

    static func start(_ arguments: [String]) throws -> RunningExec {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw BenchmarkFailure("pipeline_exec: pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard status == 0 else { throw BenchmarkFailure("pipeline_exec: cannot start \(arguments[0]): errno \(status)") }
        _ = fcntl(toChild[1], F_SETFL, fcntl(toChild[1], F_GETFL) | O_NONBLOCK)
        return RunningExec(pid: pid, input: toChild[1], output: fromChild[0])
    }

    /// Ends its input (it finishes and exits) and reaps it.
    func finish() {
        close(input)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while buffer.withUnsafeMutableBytes({ read(output, $0.baseAddress, $0.count) }) > 0 {}
        close(output)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}

/// The directory of `path` (everything before its last slash).
private func folder(of path: String) -> String {
    String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
}

let pipelineCases: [BenchmarkCase] = [
    BenchmarkCase(name: "pipeline_exec", unit: BenchmarkUnit(symbol: "item/s"),
                  summary: "mpctl exec -n 2 -- python3 identity_stage.py, started once; lines written to its stdin, the same lines read back in order; one op = one item") { settings in
        var link = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &link, link.count - 1)
        guard length > 0 else { throw BenchmarkFailure("pipeline_exec: cannot read /proc/self/exe") }
        let mpctl = folder(of: String(decoding: link[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)) + "/mpctl"
        guard access(mpctl, X_OK) == 0 else {
            throw BenchmarkFailure("pipeline_exec needs mpctl beside MPBenchmarks: swift build -c release --product mpctl")
        }
        // This file is Benchmarks/Swift/PipelineCases.swift; the stage is Benchmarks/python/identity_stage.py.
        let stage = folder(of: folder(of: #filePath)) + "/python/identity_stage.py"
        let exec = try RunningExec.start([mpctl, "exec", "-n", "2", "--", "/usr/bin/env", "python3", stage])
        defer { exec.finish() }
        var next = 0
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        /// Seconds for `count` lines through the pool, each checked to come back in order.
        func pass(_ count: Int) throws -> Double {
            let first = next
            next += count
            let lines = Array((first..<next).map { "item-\($0)\n" }.joined().utf8)
            var written = 0
            var expected = first
            let start = monotonicSeconds()
            while expected < next {
                var fds = [pollfd(fd: exec.output, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: written < lines.count ? exec.input : -1, events: Int16(POLLOUT), revents: 0)]
                guard poll(&fds, 2, 30_000) > 0 else { throw BenchmarkFailure("pipeline_exec: no progress in 30 s") }
                if fds[1].revents != 0 {
                    let count = lines[written...].withUnsafeBytes { write(exec.input, $0.baseAddress, $0.count) }
                    if count > 0 { written += count }
                }
                if fds[0].revents != 0 {
                    let count = buffer.withUnsafeMutableBytes { read(exec.output, $0.baseAddress, $0.count) }
                    guard count > 0 else { throw BenchmarkFailure("pipeline_exec: mpctl exec ended after \(expected - first) of \(count) items") }
                    pending += buffer[..<count]
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = String(decoding: Array(pending[..<newline]), as: UTF8.self)
                        pending.removeSubrange(...newline)
                        guard line == "item-\(expected)" else { throw BenchmarkFailure("pipeline_exec: got \(line), expected item-\(expected)") }
                        expected += 1
                    }
                }
            }
            return monotonicSeconds() - start
        }
        let items = pipelineItems(settings)
        _ = try pass(items / 4)   // warm-up: workers started, caches warm
        var samples: [Double] = []
        for _ in 0..<settings.samples { samples.append(Double(items) / (try pass(items))) }
        return BenchmarkReport(samples: samples, info: ["items_per_sample": String(items), "workers": "2"])
    },
]
