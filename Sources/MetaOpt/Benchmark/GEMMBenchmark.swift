import Foundation

/// One matrix product C (m × n) ← op(A) op(B) (inner dimension k) on row-major matrices, as the
/// engine calls the linked BLAS.
package struct GEMMShape: Codable, Hashable, Sendable {
    package var name: String
    package var transposeA: Bool
    package var transposeB: Bool
    package var m: Int
    package var n: Int
    package var k: Int
    /// How often one unrolled step (forward and backward) makes this call.
    package var callsPerStep: Int

    package init(name: String, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, callsPerStep: Int = 1) {
        self.name = name
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.m = m
        self.n = n
        self.k = k
        self.callsPerStep = callsPerStep
    }

    package var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

/// Single-precision GEMM speed of the linked BLAS on given shapes: the machine's practical limit
/// for the learned optimizer's matrix products (the same measurement as the JAX reference's
/// `gemm_bench.py`, but through the BLAS this binary calls).
package enum GEMMBenchmark {
    package struct Measurement: Codable, Sendable {
        package var shape: GEMMShape
        package var gflopsMedian: Double
        package var gflopsMin: Double
        package var gflopsMax: Double
        package var secondsMedian: Double
    }

    /// Times `shape` `repetitions` times, each sample looping long enough (≥ `sampleSeconds`) to
    /// be above timer noise; reports the median.
    package static func measure(_ shape: GEMMShape, repetitions: Int = 7, sampleSeconds: Double = 0.02) -> Measurement {
        let aCount = shape.m * shape.k, bCount = shape.k * shape.n, cCount = shape.m * shape.n
        var stream = RandomKey(seed: 0, horizon: 0, task: 0).stream(.auxiliary)
        let a = (0..<aCount).map { _ in Float(stream.uniform(-1, 1)) }
        let b = (0..<bCount).map { _ in Float(stream.uniform(-1, 1)) }
        var c = [Float](repeating: 0, count: cCount)
        let lda = shape.transposeA ? shape.m : shape.k
        let ldb = shape.transposeB ? shape.k : shape.n
        func call(_ times: Int) {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        for _ in 0..<times {
                            Float.gemm(transposeA: shape.transposeA, transposeB: shape.transposeB, m: shape.m, n: shape.n,
                                       k: shape.k, alpha: 1, a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                                       beta: 0, c: cp.baseAddress!, ldc: shape.n)
                        }
                    }
                }
            }
        }
        call(1)
        let one = Stopwatch.time { call(1) }
        let inner = max(1, Int(sampleSeconds / max(one, 1e-7)))
        var samples: [Double] = []
        for _ in 0..<max(repetitions, 1) {
            samples.append(Stopwatch.time { call(inner) } / Double(inner))
        }
        let speeds = samples.map { shape.flops / $0 / 1e9 }.sorted()
        return Measurement(shape: shape, gflopsMedian: median(speeds), gflopsMin: speeds.first!, gflopsMax: speeds.last!,
                           secondsMedian: median(samples))
    }

    /// The FLOP-weighted harmonic mean of the measured speeds: the GFLOP/s of a run that spends
    /// each shape's share of the FLOPs at that shape's speed.
    package static func boundGFLOPS(_ measurements: [Measurement]) -> Double {
        guard !measurements.isEmpty else { return .nan }
        var flops = 0.0, seconds = 0.0
        for m in measurements {
            let f = m.shape.flops * Double(m.shape.callsPerStep)
            flops += f
            seconds += f / (m.gflopsMedian * 1e9)
        }
        return flops / seconds / 1e9
    }

    /// The shapes of the JAX reference's `gemm_bench.py` (its feature-major forward and the
    /// backward products) for `n` coordinates: layer 1 K = 22, layer 2 K = 40, 4H = 80.
    package static func peerShapes(coordinates n: Int) -> [GEMMShape] {
        [GEMMShape(name: "fm L1 fwd W1ᵀ(80×22)·X(22×N)", transposeA: true, transposeB: false, m: 80, n: n, k: 22),
         GEMMShape(name: "fm L2 fwd W2ᵀ(80×40)·X(40×N)", transposeA: true, transposeB: false, m: 80, n: n, k: 40),
         GEMMShape(name: "L1 bwd dX_h dZ(N×80)·W1hᵀ(80×20)", transposeA: false, transposeB: true, m: n, n: 20, k: 80),
         GEMMShape(name: "L2 bwd dX dZ(N×80)·W2ᵀ(80×40)", transposeA: false, transposeB: true, m: n, n: 40, k: 80),
         GEMMShape(name: "L1 bwd dW Xᵀ(22×N)·dZ(N×80)", transposeA: true, transposeB: false, m: 22, n: 80, k: n),
         GEMMShape(name: "L2 bwd dW Xᵀ(40×N)·dZ(N×80)", transposeA: true, transposeB: false, m: 40, n: 80, k: n)]
    }
}

/// Monotonic wall-clock timing, and this thread's CPU time.
enum Stopwatch {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    /// Nanoseconds of CPU time this thread has used (a system call: not for inner loops). On a
    /// shared machine it excludes the time other processes held the core.
    static func threadCPU() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }
    static func time(_ body: () -> Void) -> Double {
        let start = now()
        body()
        return Double(now() - start) / 1e9
    }
}
