/// Software prefetch: `prefetcht1`, a hint to bring a cache line into the L2 cache. Swift has no
/// prefetch operation, and the C intrinsics imported from the clang headers are dropped by the
/// optimiser, so this calls LLVM's `llvm.prefetch` intrinsic directly (it compiles to one
/// instruction; on a target without prefetch instructions LLVM drops it).
@_silgen_name("llvm.prefetch.p0")
private func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ dataCache: Int32)

enum Prefetch {
    /// Hints that the cache line holding `address` will be read soon (into L2; locality 2).
    @inline(__always) static func line(_ address: UnsafeRawPointer) {
        llvmPrefetch(address, 0, 2, 1)
    }

    /// A list of memory ranges to prefetch bit by bit, interleaved with other work.
    struct Ranges {
        var ranges: UnsafeBufferPointer<(UnsafeRawPointer, Int)>  // (start, bytes)
        var range = 0
        var offset = 0

        init(_ ranges: UnsafeBufferPointer<(UnsafeRawPointer, Int)>) { self.ranges = ranges }

        var lines: Int { ranges.reduce(0) { $0 + ($1.1 + 63) / 64 } }

        /// Prefetches the next `count` lines.
        @inline(__always) mutating func next(_ count: Int) {
            for _ in 0..<count {
                guard range < ranges.count else { return }
                Prefetch.line(ranges[range].0 + offset)
                offset += 64
                if offset >= ranges[range].1 {
                    range += 1
                    offset = 0
                }
            }
        }
    }
}
