import Synchronization

/// A supervisor's table of live children by id, and the ids it hands out: any thread reads it,
/// the supervisor's loop writes it (a child is added at its spawn, removed once it finished).
final class LiveChildren: Sendable {
    private let byID = Mutex<[UInt64: ChildRecord]>([:])
    private let ids = Atomic<UInt64>(1)

    /// The id for the next child (0 is the supervisor's).
    func nextID() -> UInt64 { ids.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// The live child with `id`, if any.
    func record(_ id: UInt64) -> ChildRecord? { byID.withLock { $0[id] } }

    /// Every live child, oldest first.
    var all: [ChildRecord] { byID.withLock { Array($0.values) }.sorted { $0.id < $1.id } }

    /// How many children are live.
    var count: Int { byID.withLock { $0.count } }

    func add(_ record: ChildRecord) { byID.withLock { $0[record.id] = record } }

    func remove(_ record: ChildRecord) { _ = byID.withLock { $0.removeValue(forKey: record.id) } }

    /// The read ends of the channels still open (what ``AnswerSpinner`` looks at).
    var openReadDescriptors: [FileDescriptor] {
        byID.withLock { $0.values.compactMap { $0.channelOpen ? $0.readDescriptor : nil } }
    }
}
