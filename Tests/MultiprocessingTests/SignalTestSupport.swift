#if canImport(Glibc)
import Glibc
#endif
@testable import Multiprocessing

extension Signal {
    /// Sends the signal to the process `pid` by its bare number. Tests only (so it lives
    /// here, not in `Sources`): a pid may have been recycled; the runtime signals children
    /// through their pidfd. Signal 0 checks existence (and succeeds on a zombie).
    func send(toProcess pid: pid_t) throws(SystemError) {
        try nothingOrErrno { Glibc.kill(pid, rawValue) }.get("kill", .pid(pid))
    }
}
