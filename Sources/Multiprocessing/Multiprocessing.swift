/// The runtime's namespace: version and entry points.
public enum Multiprocessing {
    /// The package version, as `mpctl --version` prints it.
    public static let version = "0.1.0"
}
