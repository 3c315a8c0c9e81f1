// What the examples share: a seeded generator, so an example's made-up data is the same on
// every machine and can be checked.

/// SplitMix64: a tiny generator of our own rather than the system's, so a seed gives the same
/// corpus on every machine and every Swift version.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1): the top 53 bits, as many as a Double holds exactly.
    public mutating func nextUnitInterval() -> Double { Double(next() >> 11) * 0x1p-53 }
}
