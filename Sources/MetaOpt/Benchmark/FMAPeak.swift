/// The single-core floating-point peak of a kernel path: independent vector multiply-adds held in
/// registers (fused on the AVX-512 and AVX2 paths, a multiply and an add on x86-64's portable
/// path), timed long enough to be steady. It is the yardstick for the engine's GFLOP/s: what the
/// core could do if every cycle went into multiply-adds of the path's width.
package enum FMAPeak {
    package struct Measurement: Codable, Sendable {
        package var kernels: String
        /// FLOPs per second, the best of the samples (interference only ever slows it down).
        package var gflops: Double
        package var samples: [Double]
        /// The same samples in this thread's CPU time: on a core shared with other processes the
        /// time the thread waits does not count, so this is the core's rate while it runs the
        /// loop, the yardstick for CPU times (the wall-time peak drops with the load).
        package var cpuGFLOPS: Double
        package var cpuSamples: [Double]
    }

    /// `samples` timings of about `secondsPerSample` each, after a warm-up of the same length
    /// (which also brings the core to its working clock).
    package static func measure(path: KernelPath = .default, samples: Int = 5, secondsPerSample: Double = 0.1) -> Measurement {
        let kernels = FloatKernels(path)
        let flopsPerIteration = Double(kernels.table.pointee.fma_peak_chains) * Double(kernels.width) * 2
        // Calibrate the iteration count to the sample length.
        var iterations = 1 << 16
        while Stopwatch.time({ _ = kernels.table.pointee.fma_peak(iterations) }) < secondsPerSample / 4 {
            iterations *= 2
        }
        let scale = secondsPerSample / max(Stopwatch.time({ _ = kernels.table.pointee.fma_peak(iterations) }), 1e-9)
        iterations = max(1, Int(Double(iterations) * scale))
        _ = kernels.table.pointee.fma_peak(iterations)  // warm-up
        var rates: [Double] = [], cpuRates: [Double] = []
        let flops = flopsPerIteration * Double(iterations)
        for _ in 0..<max(1, samples) {
            let startCPU = Stopwatch.threadCPU()
            let seconds = Stopwatch.time { _ = kernels.table.pointee.fma_peak(iterations) }
            let cpuSeconds = Double(Stopwatch.threadCPU() - startCPU) / 1e9
            rates.append(flops / seconds / 1e9)
            cpuRates.append(flops / max(cpuSeconds, 1e-9) / 1e9)
        }
        return Measurement(kernels: path.rawValue, gflops: rates.max() ?? .nan, samples: rates,
                           cpuGFLOPS: cpuRates.max() ?? .nan, cpuSamples: cpuRates)
    }
}
