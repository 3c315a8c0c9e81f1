// The codec is part of the API (payloads, `MessagePackValue`): one import gives both.
@_exported import MessagePack

/// The runtime's namespace: version and entry points.
public enum Multiprocessing {
    /// The package version, as `mpctl --version` prints it.
    public static let version = "0.1.0"

    /// Ends this process at once with `code`, without running `atexit` handlers or flushing
    /// buffers: Python's `os._exit`, for a child that must stop now.
    public static func exitImmediately(_ code: Int32) -> Never {
        ProcessEnvironment.exitImmediately(code)
    }
}
