import XCTest
@testable import MetaOpt

/// The kernel paths (`KernelPath`): selection, and that every path this machine can run computes
/// the same engine results as the portable path to Float accuracy, and a meta-gradient that
/// matches finite differences.
final class KernelPathTests: XCTestCase {
    /// The kernels' measurement switches take their documented values; anything else is named.
    func testMeasurementSwitchValues() {
        for environment in [[:], ["METAOPT_MATRIX_PRODUCTS": "own"], ["METAOPT_MATRIX_PRODUCTS": "openblas"],
                            ["METAOPT_FORWARD_PRODUCTS": "fused"], ["METAOPT_FORWARD_PRODUCTS": "plain"],
                            ["METAOPT_FORWARD_PRODUCTS": "paired"],
                            ["METAOPT_MATRIX_PRODUCTS": ""]] {
            XCTAssertNil(KernelPath.measurementSwitchProblem(in: environment), "\(environment)")
        }
        XCTAssertEqual(KernelPath.measurementSwitchProblem(in: ["METAOPT_MATRIX_PRODUCTS": "Own"]),
                       "METAOPT_MATRIX_PRODUCTS=Own is not a setting of the kernels; use own or openblas, or unset it")
        XCTAssertEqual(KernelPath.measurementSwitchProblem(in: ["METAOPT_FORWARD_PRODUCTS": "on"]),
                       "METAOPT_FORWARD_PRODUCTS=on is not a setting of the kernels; use fused, plain or paired, or unset it")
    }

    /// The AVX-512 path pairs the forward products' terms on AMD's CPUs (add units of their own,
    /// Zen 4 on: every AMD CPU with AVX-512) and not on Intel's, by the CPU's brand string here
    /// against cpuid's vendor and family in the kernels.
    func testForwardProductsArePairedOnAMDOnly() throws {
        guard KernelPath.avx512.isSupported else { throw XCTSkip("no AVX-512 here") }
        guard FloatKernels.forwardProductsOverride == nil,
              FloatKernels.matrixProductsOverride == nil else { throw XCTSkip("a measurement switch is set") }
        let name = KernelPath.cpuName
        if name.contains("AMD") { XCTAssertTrue(FloatKernels(.avx512).pairsForwardProducts, name) }
        if name.contains("Intel") { XCTAssertFalse(FloatKernels(.avx512).pairsForwardProducts, name) }
        XCTAssertFalse(FloatKernels(.avx2).pairsForwardProducts)
        XCTAssertFalse(FloatKernels(.portable).pairsForwardProducts)
    }

    /// A process restarts with OpenBLAS's kernels for this CPU's instructions only where OpenBLAS
    /// fell back to Prescott's and nobody named a core; once.
    func testOpenBLASFallbackRestartsOnlyWhenOpenBLASDidNotKnowTheCPU() {
        let restart = OpenBLASFallback.restartCore(environment:chose:fitting:)
        XCTAssertEqual(restart([:], "Prescott", "Cooperlake"), "Cooperlake")
        XCTAssertEqual(restart(["OPENBLAS_CORETYPE": ""], "PRESCOTT", "Haswell"), "Haswell")
        XCTAssertNil(restart(["OPENBLAS_CORETYPE": "Prescott"], "Prescott", "Haswell"), "the user's choice")
        XCTAssertNil(restart([OpenBLASFallback.markerVariable: "Prescott"], "Prescott", "Haswell"), "restarted already")
        XCTAssertNil(restart([:], "Haswell", "Cooperlake"), "a core OpenBLAS knows")
        XCTAssertNil(restart([:], "Prescott", nil), "a CPU without AVX2: Prescott's kernels fit")
        // This CPU's core: one whose sgemm gives the MLP digest's bits, and one its path can run.
        if let core = OpenBLASFallback.fittingCore {
            XCTAssertTrue(RecordedPhiTests.blasCoresOfTheMLPDigest.contains(core), core)
            XCTAssertNil(KernelPath.openBLASCoreTypeProblem(in: ["OPENBLAS_CORETYPE": core]), core)
        } else {
            XCTAssertFalse(KernelPath.avx2.isSupported)
        }
    }

    func testSelection() throws {
        XCTAssertTrue(KernelPath.portable.isSupported)
        XCTAssertEqual(KernelPath.supported.first, KernelPath.best)
        XCTAssertEqual(try KernelPath.resolve(nil), KernelPath.best)
        XCTAssertEqual(try KernelPath.resolve("auto"), KernelPath.best)
        XCTAssertEqual(try KernelPath.resolve(" AVX2 ").rawValue, KernelPath.avx2.isSupported ? "avx2" : "")
        for path in KernelPath.supported { XCTAssertEqual(try KernelPath.resolve(path.rawValue), path) }
        XCTAssertThrowsError(try KernelPath.resolve("sse9")) { error in
            XCTAssertTrue("\(error)".contains("METAOPT_KERNELS=sse9 is not a kernel path"), "\(error)")
        }
        #if arch(x86_64)
        // OpenBLAS's kernels forced to a core of a generation this CPU lacks: refused (checked
        // where they are lacking in PortabilityTests, under an emulated CPU without AVX-512).
        for (core, path) in [("Haswell", KernelPath.avx2), ("zen", .avx2), ("SkylakeX", .avx512), ("COOPERLAKE", .avx512)] {
            XCTAssertEqual(KernelPath.openBLASCoreTypeProblem(in: ["OPENBLAS_CORETYPE": core]) != nil, !path.isSupported, core)
        }
        XCTAssertNil(KernelPath.openBLASCoreTypeProblem(in: ["OPENBLAS_CORETYPE": "Core2"]))
        // AMD's cores of 2011-2015: their kernels use FMA4, which no later CPU has.
        for core in ["Bulldozer", "Piledriver", "Steamroller", "Excavator"] {
            let problem = KernelPath.openBLASCoreTypeProblem(in: ["OPENBLAS_CORETYPE": core], hasFMA4: false) ?? ""
            XCTAssertTrue(problem.contains("OPENBLAS_CORETYPE=\(core) makes OpenBLAS run kernels for another CPU: ")
                          && problem.contains(" lacks FMA4 (AMD's four-operand multiply-add"), problem)
            XCTAssertNil(KernelPath.openBLASCoreTypeProblem(in: ["OPENBLAS_CORETYPE": core], hasFMA4: true), core)
        }
        XCTAssertNil(KernelPath.openBLASCoreTypeProblem(in: [:]))
        #endif
        // A Windows line end is trimmed like a space; a control character inside is shown escaped.
        XCTAssertEqual(try KernelPath.resolve("portable\r\n"), .portable)
        XCTAssertThrowsError(try KernelPath.resolve("sse9\u{7}x")) { error in
            XCTAssertTrue("\(error)".contains(#"METAOPT_KERNELS="sse9\u{07}x" is not a kernel path"#), "\(error)")
        }
        for path in KernelPath.allCases where !path.isSupported {
            XCTAssertThrowsError(try KernelPath.resolve(path.rawValue)) { error in
                XCTAssertTrue("\(error)".contains("lacks") || "\(error)".contains("no \(path.rawValue) kernels"), "\(error)")
            }
        }
        #if arch(x86_64)
        // Every x86-64 machine this project supports has AVX2 + FMA.
        XCTAssertTrue(KernelPath.avx2.isSupported, "this x86-64 CPU has no AVX2 + FMA")
        #endif
    }

    func testCensus() {
        XCTAssertEqual(KernelCensus(.avx2).description, "avx2")
        let mixed = KernelCensus(ranks: [(.avx512, 2), (.portable, 1)])
        XCTAssertFalse(mixed.isUniform)
        XCTAssertEqual(mixed.description, "avx512:2,portable:1")
    }

    /// A Float engine on `path`: θ and the losses after `steps` forward steps, and the meta-gradient
    /// of the next two truncations. 5 quadratics of dimension 13 (65 columns: a partial last vector
    /// for every width) and one MLP-sized hidden state.
    func run(_ path: KernelPath, preprocessing: InputPreprocessing) -> (theta: [Float], losses: [Float], gradient: [Float]) {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: preprocessing, outputScale: 0.1))
        var s = RandomKey(seed: 4, horizon: 0, task: 0).stream(.auxiliary)
        let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 3, horizon: 0, task: 0)).map { $0 + Float(0.1 * s.normal()) }
        let tasks: [any Optimizee] = (0..<5).map { QuadraticOptimizee(dimension: 13, key: RandomKey(seed: 6, horizon: 0, task: $0)) }
        let engine = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 10, kernelPath: path)
        XCTAssertEqual(engine.kernelPath, path)
        var state = engine.initialState()
        phi.withUnsafeBufferPointer { engine.run(phi: $0, state: &state, steps: 15) }
        let theta = state.theta, losses = state.loss
        var g = [Float](repeating: 0, count: layout.count)
        for _ in 0..<2 {
            phi.withUnsafeBufferPointer { p in
                g.withUnsafeMutableBufferPointer { _ = engine.truncation(phi: p, state: &state, gradient: $0) }
            }
        }
        return (theta, losses, g)
    }

    func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        let norm = sqrt(b.reduce(0.0) { $0 + Double($1) * Double($1) })
        let diff = sqrt(zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) })
        return diff / max(norm, .leastNormalMagnitude)
    }

    /// Tolerance: the paths differ only in the order of sums (16 or 8 lanes) and in fused versus
    /// separate multiply-adds, each a relative change of order 1e-7 per operation, which 15
    /// forward and 20 backward steps of a 20-unit LSTM leave at that order (measured on an AMD
    /// EPYC with AVX-512: at most 3.3e-8 for θ and the losses, 1.1e-7 for the meta-gradient); the
    /// bounds leave a factor 30 to 100. A wrong kernel (a lane dropped, a mask off by one, a gate
    /// swapped) changes them by 1e-2 or more.
    func testEveryPathAgreesWithPortable() {
        for pre in [InputPreprocessing.raw, .logAndSign(p: 10)] {
            let reference = run(.portable, preprocessing: pre)
            XCTAssertTrue(reference.gradient.allSatisfy(\.isFinite) && reference.theta.allSatisfy(\.isFinite))
            for path in KernelPath.supported where path != .portable {
                let r = run(path, preprocessing: pre)
                let dTheta = relativeDifference(r.theta, reference.theta)
                let dLoss = relativeDifference(r.losses, reference.losses)
                let dGradient = relativeDifference(r.gradient, reference.gradient)
                print("\(path.rawValue) vs portable, \(pre.description): θ \(dTheta), losses \(dLoss), meta-gradient \(dGradient)")
                XCTAssertLessThan(dTheta, 1e-6, "\(path.rawValue) θ, \(pre.description)")
                XCTAssertLessThan(dLoss, 1e-6, "\(path.rawValue) losses, \(pre.description)")
                XCTAssertLessThan(dGradient, 1e-5, "\(path.rawValue) meta-gradient, \(pre.description)")
            }
            // Same path, same bits: a path is deterministic.
            let again = run(.portable, preprocessing: pre)
            XCTAssertEqual(again.gradient.map(\.bitPattern), reference.gradient.map(\.bitPattern))
        }
    }

    /// The Float meta-gradient of every path against central finite differences of the same loss
    /// computed in Double (the frozen-input loss of MetaGradientTests, whose Double gradient
    /// matches to 1e-6). Float rounding (ε ≈ 6e-8, a few hundred operations deep) gives errors of
    /// order 1e-7 of the gradient's largest entry (measured: at most 1.3e-7, on the portable path);
    /// the bound is 1e-5 of it, while a wrong backward term is off by far more (1e-2 relative or
    /// worse, as in MetaGradientTests).
    func testFloatMetaGradientMatchesFiniteDifferencesOnEveryPath() {
        checkFloatMetaGradient(hiddenSizes: [5, 5])
    }

    /// The same for one layer, and for three of unequal sizes (4H = 16 and 24 run the vector dW
    /// kernel, 12 BLAS; 4H = 20 of the layers of 5 runs BLAS).
    func testFloatMetaGradientOfOtherLayerStacksOnEveryPath() {
        for sizes in [[5], [4, 6, 3], [8, 8]] { checkFloatMetaGradient(hiddenSizes: sizes) }
    }

    func checkFloatMetaGradient(hiddenSizes: [Int], file: StaticString = #filePath, line: UInt = #line) {
        for pre in [InputPreprocessing.raw, .logAndSign(p: 10)] {
            let config = LearnedOptimizerConfig(hiddenSizes: hiddenSizes, preprocessing: pre, outputScale: 0.1)
            let layout = ParameterLayout(config)
            let tasks: [any Optimizee] = (0..<3).map { QuadraticOptimizee(dimension: 7, key: RandomKey(seed: 3, horizon: 0, task: $0)) }
            var s = RandomKey(seed: 11, horizon: 9, task: 9).stream(.auxiliary)
            let phi = (0..<layout.count).map { _ in Float(s.normal() * 0.3) }
            let phiDouble = phi.map(Double.init)
            // The loss in Double, with the LSTM inputs the Double engine records.
            let exact = UnrollEngine<Double>(layout: layout, tasks: tasks, unroll: 4)
            var start = exact.initialState()
            phiDouble.withUnsafeBufferPointer { exact.run(phi: $0, state: &start, steps: 3) }
            var scratch = start
            var unused = [Double](repeating: 0, count: layout.count)
            _ = phiDouble.withUnsafeBufferPointer { p in
                unused.withUnsafeMutableBufferPointer { exact.truncation(phi: p, state: &scratch, gradient: $0) }
            }
            let inputs = exact.recordedInputs()
            func loss(_ phi: [Double]) -> Double {
                phi.withUnsafeBufferPointer { exact.frozenInputLoss(phi: $0, state: start, inputs: inputs) }.reduce(0, +)
            }
            let h = 1e-5
            let fd = (0..<layout.count).map { i -> Double in
                var plus = phiDouble, minus = phiDouble
                plus[i] += h
                minus[i] -= h
                return (loss(plus) - loss(minus)) / (2 * h)
            }
            let scale = fd.map(abs).max() ?? 0
            XCTAssertGreaterThan(scale, 0, file: file, line: line)
            for path in KernelPath.supported {
                let engine = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 4, kernelPath: path)
                var state = engine.initialState()
                phi.withUnsafeBufferPointer { engine.run(phi: $0, state: &state, steps: 3) }
                var g = [Float](repeating: 0, count: layout.count)
                _ = phi.withUnsafeBufferPointer { p in
                    g.withUnsafeMutableBufferPointer { engine.truncation(phi: p, state: &state, gradient: $0) }
                }
                var worst = 0.0
                for i in 0..<layout.count {
                    let error = abs(Double(g[i]) - fd[i])
                    worst = max(worst, error / scale)
                    XCTAssertLessThanOrEqual(error, 1e-5 * scale,
                                             "\(hiddenSizes) \(path.rawValue) \(pre.description) φ[\(i)]: finite difference \(fd[i]) vs \(g[i])",
                                             file: file, line: line)
                }
                print("\(hiddenSizes) \(path.rawValue) \(pre.description): Float meta-gradient vs finite differences, worst error \(worst) of the largest entry")
            }
        }
    }

    /// The elementwise kernels run several vectors per step where the path interleaves (MO_IL: a
    /// wide body) and one at a time for the rest of a row (the narrow body). A column's results must
    /// not depend on which body computed it: every output of the forward kernel (gates, c, h, its
    /// copy, the output layer's u) and of the tanh(c) rebuild, over 300 columns, bit for bit against
    /// the same column computed alone (column 0 of a one-vector row, always the narrow body). The
    /// forward-only kernel (no history) the same way, and its c, h, copy and u equal the
    /// history-keeping kernel's bit for bit. 300 columns are more than one block of the AVX2
    /// path's staged sigmoids (256, MO_STAGE_COLUMNS), so the second block is checked too.
    /// Pre-activations up to ±12 reach the saturated tails of sigmoid and tanh.
    func testElementwiseKernelsGiveEveryColumnTheSameBits() {
        let hidden = 3, columns = 300
        var s = RandomKey(seed: 11, horizon: 0, task: 0).stream(.auxiliary)
        let z0 = (0..<(4 * hidden * columns)).map { _ in Float(12 * (2 * s.uniform() - 1)) }
        let c0 = (0..<(hidden * columns)).map { _ in Float(3 * s.normal()) }
        let bias = (0..<(4 * hidden)).map { _ in Float(s.normal()) }
        let w = (0..<hidden).map { _ in Float(s.normal()) }
        /// Forward and rebuild over `count` columns taken from `first` on: every output, row by row.
        func outputs(_ kernels: FloatKernels, first: Int, count: Int, keepHistory: Bool = true) -> [[Float]] {
            // 64-byte aligned rows padded to whole 16-float vectors, as the engine's (strides 80 and 16).
            let workspace = Workspace<Float>()
            defer { withExtendedLifetime(workspace) {} }  // it frees the buffers
            func view(_ rows: Int) -> MatrixView<Float> { workspace.matrix(rows, count) }
            let z = view(4 * hidden), gates = view(4 * hidden), cp = view(hidden), c = view(hidden)
            let h = view(hidden), copy = view(hidden), u = view(1), tc = view(hidden), rebuilt = view(hidden)
            let rowStride = z.stride
            for r in 0..<(4 * hidden) { for k in 0..<count { z.base[r * rowStride + k] = z0[r * columns + first + k] } }
            for r in 0..<hidden { for k in 0..<count { cp.base[r * rowStride + k] = c0[r * columns + first + k] } }
            bias.withUnsafeBufferPointer { b in
                w.withUnsafeBufferPointer { wp in
                    kernels.forward(preactivations: z, gates: keepHistory ? gates : z, bias: b.baseAddress!,
                                    cellPrevious: cp, cell: c, tanhCell: nil, hidden: h, hiddenCopy: copy,
                                    output: .init(weights: wp.baseAddress!, bias: 0.25, update: u.base),
                                    keepHistory: keepHistory)
                }
            }
            guard keepHistory else {
                return [c, h, copy, u].flatMap { m in (0..<m.rows).map { r in (0..<count).map { m.base[r * rowStride + $0] } } }
            }
            let o = MatrixView(base: gates.base + 3 * hidden * rowStride, rows: hidden, columns: count, stride: rowStride)
            kernels.tanhCell(of: c, outputGate: o, into: tc, hidden: rebuilt)
            return [gates, c, h, copy, u, tc, rebuilt].flatMap { m in
                (0..<m.rows).map { r in (0..<count).map { m.base[r * rowStride + $0] } }
            }
        }
        for path in KernelPath.supported {
            let kernels = FloatKernels(path)
            let all = outputs(kernels, first: 0, count: columns)
            for column in 0..<columns {
                let alone = outputs(kernels, first: column, count: 1)
                for (row, values) in alone.enumerated() {
                    XCTAssertEqual(all[row][column].bitPattern, values[0].bitPattern,
                                   "\(path.rawValue): output row \(row), column \(column)")
                }
            }
            XCTAssertTrue(all.joined().allSatisfy(\.isFinite))
            let forwardOnly = outputs(kernels, first: 0, count: columns, keepHistory: false)
            for column in 0..<columns {
                let alone = outputs(kernels, first: column, count: 1, keepHistory: false)
                for (row, values) in alone.enumerated() {
                    XCTAssertEqual(forwardOnly[row][column].bitPattern, values[0].bitPattern,
                                   "\(path.rawValue): forward-only output row \(row), column \(column)")
                }
            }
            // c, h, copy and u: rows 4H..<4H + 3H + 1 of the history-keeping outputs.
            XCTAssertEqual(forwardOnly.map { $0.map(\.bitPattern) },
                           all[(4 * hidden)..<(7 * hidden + 1)].map { $0.map(\.bitPattern) }, path.rawValue)
        }
    }
}

/// The multiply-add peak `bench` measures for each path.
final class FMAPeakTests: XCTestCase {
    func testPeakIsMeasuredForEveryPath() {
        var peaks: [KernelPath: Double] = [:]
        for path in KernelPath.supported {
            let m = FMAPeak.measure(path: path, samples: 2, secondsPerSample: 0.02)
            XCTAssertEqual(m.kernels, path.rawValue)
            XCTAssertEqual(m.samples.count, 2)
            XCTAssertTrue(m.gflops.isFinite && m.gflops > 1, "\(path.rawValue): \(m.gflops) GFLOP/s")
            // A thread's CPU time never exceeds the wall time it spans (1% for the clocks' granularity).
            XCTAssertEqual(m.cpuSamples.count, 2)
            XCTAssertGreaterThanOrEqual(m.cpuGFLOPS, 0.99 * m.gflops, path.rawValue)
            // By CPU time: a sample of 0.02 s that the scheduler interrupts (a busy machine) reads
            // slower by the wall clock, and failed the comparison below under load.
            peaks[path] = m.cpuGFLOPS
            print("\(path.rawValue): multiply-add peak \(m.gflops) GFLOP/s (\(m.cpuGFLOPS) by CPU time)")
        }
        // Fused 8-lane multiply-adds outrun the portable path's separate 4-lane SSE2 operations
        // (measured on Zen 4: 117 against 59 GFLOP/s, twice the FLOPs per cycle); a factor 1.5 leaves
        // room for noise.
        if let avx2 = peaks[.avx2], let portable = peaks[.portable] {
            XCTAssertGreaterThan(avx2, 1.5 * portable)
        }
    }
}
