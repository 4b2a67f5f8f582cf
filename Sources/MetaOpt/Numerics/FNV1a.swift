/// FNV-1a, 64-bit: a stable hash of bytes (Swift's Hasher is seeded per process).
func fnv1a<D: Sequence>(_ bytes: D) -> UInt64 where D.Element == UInt8 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01b3
    }
    return h
}
