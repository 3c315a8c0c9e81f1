#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// This process's environment, identity and exit: the libc calls the process layer needs,
/// kept here so that only `System/` calls libc.
enum ProcessEnvironment {
    /// The value of `name` in the environment, if set. The corresponding C function is `getenv`.
    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The whole environment as a dictionary (`environ`).
    static func all() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// Removes `name` from this process's environment. The corresponding C function is `unsetenv`.
    static func remove(_ name: String) { unsetenv(name) }

    /// Ends the process at once with `code`, flushing nothing Swift buffered: what a child
    /// does when its entry is done. The corresponding C function is `_exit`.
    static func exitImmediately(_ code: Int32) -> Never { _exit(code) }

    /// Ends the process with `code`, running `atexit` handlers and flushing stdio. The
    /// corresponding C function is `exit`.
    static func exit(_ code: Int32) -> Never { Glibc.exit(code) }

    /// Writes `text` to standard error (fd 2) unbuffered; the C global `stderr` is not usable
    /// under strict concurrency.
    static func writeError(_ text: String) {
        var text = text
        text.withUTF8 { _ = try? FileDescriptor(rawValue: 2).writeAll(UnsafeRawBufferPointer($0)) }
    }

    /// Replaces this process's image with `path`, keeping its descriptors and the
    /// parent-death signal. Returns only on failure. The corresponding C function is `execve`.
    static func execute(_ path: String, arguments: [String], environment: [String: String]) -> Errno {
        withCStringArray([path] + arguments) { argv in
            withCStringArray(environment.map { "\($0.key)=\($0.value)" }) { envp in
                _ = execve(path, argv, envp)
                return Errno(rawValue: errno)
            }
        }
    }

    /// Registers `handler` to run at normal process exit. The corresponding C function is `atexit`.
    static func atExit(_ handler: @convention(c) () -> Void) { atexit(handler) }
}
