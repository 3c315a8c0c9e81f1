import Synchronization

/// One parked object kept for the next call, so a hot `encode` reuses its encoder and buffer
/// instead of allocating them again (about a quarter of a small struct's encode time).
///
/// Lock-free: taking swaps the slot with empty; parking fills it only if it is empty, so two
/// threads never share an object (a racing caller simply allocates a fresh one).
struct ParkingSlot: ~Copyable, Sendable {
    private let bits = Atomic<UInt>(0)

    init() {}

    func take<T: AnyObject>(_ type: T.Type) -> T? {
        let value = bits.exchange(0, ordering: .acquiring)
        guard value != 0, let pointer = UnsafeRawPointer(bitPattern: value) else { return nil }
        return Unmanaged<T>.fromOpaque(pointer).takeRetainedValue()
    }

    /// Parks `object`; false when the slot was taken (the object is then not kept).
    @discardableResult
    func park<T: AnyObject>(_ object: T) -> Bool {
        let pointer = Unmanaged.passRetained(object).toOpaque()
        let (parked, _) = bits.compareExchange(expected: 0, desired: UInt(bitPattern: pointer), ordering: .releasing)
        if !parked { Unmanaged<T>.fromOpaque(pointer).release() }
        return parked
    }
}

/// Remembers the last type found NOT to conform to a marker protocol, so that the common case
/// (the same struct type encoded over and over) skips the runtime conformance lookup, which
/// costs about 6% of a small struct's round trip.
struct LastNonConformingType: ~Copyable, Sendable {
    private let bits = Atomic<UInt>(0)

    init() {}

    @inline(__always) func contains(_ type: Any.Type) -> Bool {
        bits.load(ordering: .relaxed) == UInt(bitPattern: ObjectIdentifier(type))
    }

    @inline(__always) func remember(_ type: Any.Type) {
        bits.store(UInt(bitPattern: ObjectIdentifier(type)), ordering: .relaxed)
    }
}
