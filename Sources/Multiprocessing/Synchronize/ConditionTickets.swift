/// The waiting list of a ``Condition``, in its shared block: who waits, in which order, and
/// which of them a notify was meant for (Python's `Condition` keeps a list of waiter locks and
/// releases the `n` oldest; this is that list in shared memory).
///
/// Layout after the condition's two words (`sequence`, `waiters`): `next` (the next ticket) and
/// a reserved word, then ``capacity`` slots of three words: `ticket`, `pid`, `state` (free,
/// waiting, granted). A waiter takes a slot and a ticket under the condition's lock; a notify
/// (under the lock too) grants the `n` oldest waiting tickets, skipping and freeing the slots of
/// waiters whose process has ended, so that a dead waiter never swallows a grant meant for a
/// living one. A waiter returns as notified only when its own slot was granted; it frees its
/// slot itself when it leaves (an exchange, so a grant racing with a timeout is seen either
/// way). A slot whose process ended is taken back by the next waiter that needs one.
///
/// What remains: a waiter that dies *after* its slot was granted takes that grant with it (as
/// a thread that returns from `wait` and ignores the notification); a pid recycled while its
/// old waiter's slot still waits keeps that slot alive until the new process ends.
struct ConditionTickets {
    /// Waiters at once, across every process.
    static let capacity = 64
    /// Bytes of the whole condition block: its two words, `next` and a reserved word, the slots.
    static let byteCount = 16 + capacity * 12

    enum State: UInt32 {
        case free = 0, waiting = 1, granted = 2
    }

    let base: UnsafeMutableRawPointer

    private var next: FutexWord { FutexWord(base + 8) }
    private func ticket(_ slot: Int) -> FutexWord { FutexWord(base + 16 + slot * 12) }
    private func pid(_ slot: Int) -> FutexWord { FutexWord(base + 16 + slot * 12 + 4) }
    private func state(_ slot: Int) -> FutexWord { FutexWord(base + 16 + slot * 12 + 8) }

    func initialize() {
        next.initialize(to: 0)
        FutexWord(base + 12).initialize(to: 0)
        for slot in 0..<Self.capacity {
            ticket(slot).initialize(to: 0)
            pid(slot).initialize(to: 0)
            state(slot).initialize(to: State.free.rawValue)
        }
    }

    /// Takes a slot and the next ticket for the calling thread (with the lock held); nil when
    /// every slot belongs to a living waiter.
    func enqueue() -> Int? {
        let me = ProcessControl.id
        var chosen: Int?
        for slot in 0..<Self.capacity {
            let current = state(slot).load()
            if current == State.free.rawValue { chosen = slot; break }
            // A slot left by a process that ended (killed while it waited) is taken back.
            let owner = Int32(bitPattern: pid(slot).load())
            if owner != me, ProcessControl.hasEnded(owner),
               state(slot).compareExchange(expected: current, desired: State.free.rawValue).exchanged {
                chosen = slot
                break
            }
        }
        guard let slot = chosen else { return nil }
        ticket(slot).store(next.add(1))
        pid(slot).store(UInt32(bitPattern: me))
        state(slot).store(State.waiting.rawValue)
        return slot
    }

    /// Whether the slot was granted (any thread, no lock needed).
    func isGranted(_ slot: Int) -> Bool { state(slot).load() == State.granted.rawValue }

    /// Frees the slot; returns whether it had been granted (the caller was notified).
    func leave(_ slot: Int) -> Bool {
        while true {
            let current = state(slot).load()
            if state(slot).compareExchange(expected: current, desired: State.free.rawValue).exchanged {
                return current == State.granted.rawValue
            }
        }
    }

    /// Grants up to `count` of the oldest waiting tickets whose process lives (with the lock
    /// held); frees the slots of those that ended. Returns how many it granted.
    func grant(_ count: Int) -> Int {
        guard count > 0 else { return 0 }
        let newest = next.load()
        // Oldest first: the largest distance back from `next` (tickets wrap around).
        let waiting = (0..<Self.capacity)
            .filter { state($0).load() == State.waiting.rawValue }
            .sorted { newest &- ticket($0).load() > newest &- ticket($1).load() }
        let me = ProcessControl.id
        var granted = 0
        for slot in waiting where granted < count {
            let owner = Int32(bitPattern: pid(slot).load())
            if owner != me, ProcessControl.hasEnded(owner) {
                _ = state(slot).compareExchange(expected: State.waiting.rawValue, desired: State.free.rawValue)
                continue
            }
            if state(slot).compareExchange(expected: State.waiting.rawValue, desired: State.granted.rawValue).exchanged {
                granted += 1
            }
        }
        return granted
    }
}
