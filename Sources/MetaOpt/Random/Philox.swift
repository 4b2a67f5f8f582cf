/// Philox4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers: as easy
/// as 1, 2, 3" (SC'11). A block of four 32-bit words is a pure function of a 128-bit counter and a
/// 64-bit key, so any stream position can be computed without generating what comes before it.
/// Checked against the Random123 known-answer vectors in the tests.
package struct Philox4x32: Sendable {
    package typealias Counter = (UInt32, UInt32, UInt32, UInt32)
    package typealias Key = (UInt32, UInt32)

    @usableFromInline static let multiplier0: UInt32 = 0xD251_1F53
    @usableFromInline static let multiplier1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let weyl0: UInt32 = 0x9E37_79B9
    @usableFromInline static let weyl1: UInt32 = 0xBB67_AE85

    /// The 10-round bijection of `counter` under `key`.
    @inlinable
    package static func block(counter: Counter, key: Key) -> Counter {
        var c = counter
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.0 &+= weyl0
                k.1 &+= weyl1
            }
            let p0 = UInt64(multiplier0) &* UInt64(c.0)
            let p1 = UInt64(multiplier1) &* UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k.0,
                 UInt32(truncatingIfNeeded: p1),
                 UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k.1,
                 UInt32(truncatingIfNeeded: p0))
        }
        return c
    }
}
