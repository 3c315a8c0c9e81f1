import MessagePack

/// The typeids and factories of Managers/Sync (Protocols/PROTOCOL.md, "Manager typeids"):
/// the synchronization primitives, values and queues every manager can make.
enum ManagerSyncTypes {
    /// Each typeid with its factory (the creation's arguments read through the `ManagerCall`).
    static let all: [(String, ManagerObjects.Factory)] = [
        (ManagerLock.typeID, { @Sendable call throws(ManagerError) in ManagedLock(reentrant: false, call) }),
        (ManagerRLock.typeID, { @Sendable call throws(ManagerError) in ManagedLock(reentrant: true, call) }),
        (ManagerSemaphore.typeID, { @Sendable call throws(ManagerError) in try ManagedSemaphore(call, bounded: false) }),
        (ManagerBoundedSemaphore.typeID, { @Sendable call throws(ManagerError) in try ManagedSemaphore(call, bounded: true) }),
        (ManagerCondition.typeID, { @Sendable call throws(ManagerError) in try ManagedCondition(call) }),
        (ManagerEvent.typeID, { @Sendable call throws(ManagerError) in ManagedEvent(call) }),
        (ManagerBarrier.typeID, { @Sendable call throws(ManagerError) in try ManagedBarrier(call) }),
        (ManagerValue<Int>.typeID, { @Sendable call throws(ManagerError) in try ManagedValue(call) }),
        (ManagerArray<Int>.typeID, { @Sendable call throws(ManagerError) in try ManagedArray(call) }),
        (ManagerQueue<Int>.typeID, { @Sendable call throws(ManagerError) in try ManagedQueue(call) }),
    ]
}

extension Manager {
    /// A new lock (Python's `Manager().Lock()`), or the one named `name` if any process made it.
    public func lock(name: String? = nil) async throws(ManagerError) -> ManagerLock {
        ManagerLock(reference: try await client.create(ManagerLock.typeID, name: name, arguments: []))
    }

    /// A new reentrant lock (Python's `Manager().RLock()`), or the one named `name`.
    public func rlock(name: String? = nil) async throws(ManagerError) -> ManagerRLock {
        ManagerRLock(reference: try await client.create(ManagerRLock.typeID, name: name, arguments: []))
    }

    /// A new semaphore holding `value` units (Python's `Manager().Semaphore(value)`), or the one
    /// named `name`; ``ManagerError/Code/invalidArgument`` for a negative value.
    public func semaphore(value: Int = 1, name: String? = nil) async throws(ManagerError) -> ManagerSemaphore {
        ManagerSemaphore(reference: try await client.create(ManagerSemaphore.typeID, name: name, arguments: [ManagerArguments.int(value)]))
    }

    /// A new bounded semaphore holding `value` units, its bound (Python's
    /// `Manager().BoundedSemaphore(value)`), or the one named `name`.
    public func boundedSemaphore(value: Int = 1, name: String? = nil) async throws(ManagerError) -> ManagerBoundedSemaphore {
        ManagerBoundedSemaphore(reference: try await client.create(ManagerBoundedSemaphore.typeID, name: name,
                                                                   arguments: [ManagerArguments.int(value)]))
    }

    /// A new condition over a reentrant lock of its own (Python's `Manager().Condition()`), or
    /// the one named `name`.
    public func condition(name: String? = nil) async throws(ManagerError) -> ManagerCondition {
        ManagerCondition(reference: try await client.create(ManagerCondition.typeID, name: name, arguments: [MessagePackValue.nil.bytes]))
    }

    /// A new condition over `lock` (Python's `Manager().Condition(lock)`): holding `lock` is
    /// holding the condition's lock. `lock` must be of this manager
    /// (``ManagerError/Code/invalidArgument`` otherwise).
    public func condition(lock: ManagerLock, name: String? = nil) async throws(ManagerError) -> ManagerCondition {
        try await condition(over: lock.reference, name: name)
    }

    /// A new condition over the reentrant `lock` (see ``condition(lock:name:)-(ManagerLock,_)``).
    public func condition(lock: ManagerRLock, name: String? = nil) async throws(ManagerError) -> ManagerCondition {
        try await condition(over: lock.reference, name: name)
    }

    private func condition(over lock: ManagedReference, name: String?) async throws(ManagerError) -> ManagerCondition {
        guard lock.client === client else {
            throw ManagerError(.invalidArgument, "Manager.condition(lock:): the lock (\(lock)) lives in another manager")
        }
        let condition = ManagerCondition(reference: try await client.create(ManagerCondition.typeID, name: name,
                                                                            arguments: [ManagerArguments.uint(lock.object)]))
        // The lock's proxy outlives the creation (the manager finds the lock by its id).
        withExtendedLifetime(lock) {}
        return condition
    }

    /// A new event, not set (Python's `Manager().Event()`), or the one named `name`.
    public func event(name: String? = nil) async throws(ManagerError) -> ManagerEvent {
        ManagerEvent(reference: try await client.create(ManagerEvent.typeID, name: name, arguments: []))
    }

    /// A new barrier for `parties` parties (Python's `Manager().Barrier(parties, timeout=)`;
    /// `timeout`: the default of a wait that gives none), or the one named `name`;
    /// ``ManagerError/Code/invalidArgument`` for fewer than 1 party.
    public func barrier(parties: Int, timeout: Duration? = nil, name: String? = nil) async throws(ManagerError) -> ManagerBarrier {
        ManagerBarrier(reference: try await client.create(ManagerBarrier.typeID, name: name,
                                                          arguments: [ManagerArguments.int(parties), ManagerArguments.timeout(timeout)]))
    }

    /// A new value holding `initial` (Python's `Manager().Value(typecode, value)`), or the one
    /// named `name` (then `initial` is not written).
    public func value<T: Codable & Sendable>(_ initial: T, name: String? = nil) async throws(ManagerError) -> ManagerValue<T> {
        let encoded = try client.encode(initial, "the initial value")
        return ManagerValue(reference: try await client.create(ManagerValue<T>.typeID, name: name, arguments: [encoded]))
    }

    /// A new array of `elements`, fixed in length (Python's `Manager().Array(typecode,
    /// sequence)`), or the one named `name`.
    public func array<T: Codable & Sendable>(_ elements: [T], name: String? = nil) async throws(ManagerError) -> ManagerArray<T> {
        let encoded = try client.encode(elements, "the array's elements")
        return ManagerArray(reference: try await client.create(ManagerArray<T>.typeID, name: name, arguments: [encoded]))
    }

    /// A new queue of `T` items holding at most `maxsize` (0: unbounded; Python's
    /// `Manager().Queue(maxsize)`, joinable), or the one named `name`;
    /// ``ManagerError/Code/invalidArgument`` for a negative maxsize.
    public func queue<T: Codable & Sendable>(_ type: T.Type = T.self, maxsize: Int = 0,
                                              name: String? = nil) async throws(ManagerError) -> ManagerQueue<T> {
        ManagerQueue(reference: try await client.create(ManagerQueue<T>.typeID, name: name, arguments: [ManagerArguments.int(maxsize)]))
    }
}
