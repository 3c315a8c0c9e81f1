import Synchronization

/// A named action a ``Barrier`` runs once per pass, in whichever process arrives last: the
/// barrier carries the name across processes (a closure cannot travel), and the last party
/// runs the action registered under that name in its own process, as a child runs an entry.
/// Python pickles a barrier's action by its qualified name for the same reason.
///
/// Register every action with ``Multiprocessing/bootstrap(functions:workers:)``, next to the
/// entries, so every process of the program knows it (a child is the same executable, so
/// one list serves all):
///
/// ```swift
/// let flush = BarrierAction("flush") { try Journal.flush() }
/// try await Multiprocessing.bootstrap(functions: [square, flush])
/// let barrier = try Barrier(parties: 3, action: flush)
/// ```
///
/// A last party whose process has no action of that name breaks the barrier and throws
/// ``SynchronizationError/Code/unregisteredAction`` (naming the action and the registered
/// ones); the other parties get ``SynchronizationError/Code/brokenBarrier``.
public struct BarrierAction: Sendable {
    /// The name the barrier stores and the last party looks the action up by (at most
    /// ``maximumNameLength`` bytes of UTF-8).
    public let name: String
    /// The action: runs under the barrier's lock, before any party is released; if it throws,
    /// the barrier breaks and the error goes to the party that ran it.
    let body: @Sendable () throws -> Void

    /// The longest name a barrier can store.
    public static let maximumNameLength = BarrierCore.maximumActionNameLength

    /// An action named `name` running `body`.
    public init(_ name: String, _ body: @escaping @Sendable () throws -> Void) {
        self.name = name
        self.body = body
    }
}

/// The barrier actions of this process, by name: filled by `bootstrap` (from the
/// ``BarrierAction``s among its `functions:`), read by the last party of each barrier pass.
enum BarrierActionRegistry {
    private static let actions = Mutex<[String: BarrierAction]>([:])

    /// Registers `action`. Throws ``SynchronizationError/Code/invalidArgument`` for a name
    /// registered already, empty, or too long for a barrier to store.
    static func register(_ action: BarrierAction) throws(SynchronizationError) {
        try BarrierCore.checkActionName(action.name)
        try actions.withLock { (table) throws(SynchronizationError) in
            guard table[action.name] == nil else {
                throw SynchronizationError(.invalidArgument, "two barrier actions are registered as \"\(action.name)\"")
            }
            table[action.name] = action
        }
    }

    static func lookup(_ name: String) -> BarrierAction? { actions.withLock { $0[name] } }
    static var names: [String] { actions.withLock { $0.keys.sorted() } }

    /// The error of a name this process did not register.
    static func unregistered(_ name: String, _ what: String) -> SynchronizationError {
        let known = names
        return SynchronizationError(.unregisteredAction, "\(what): no barrier action is registered as \"\(name)\" in this process (registered: \(known.isEmpty ? "none" : known.map { "\"\($0)\"" }.joined(separator: ", "))); pass every BarrierAction to Multiprocessing.bootstrap(functions:)")
    }
}
