import Foundation

/// Times meta-iterations (T unrolled steps of every function, the first-order meta-gradient and
/// an Adam step on φ) of a `BenchmarkWorkload` in this process, plus a forward-only evaluation,
/// and relates them to the linked BLAS's GEMM speed on the engine's own matrix shapes.
package enum MetaIterationBenchmark {
    package struct Options: Sendable {
        package var repetitions = 10
        package var warmup = 2
        package var evaluationSteps = 100
        package var evaluationRepetitions = 3
        /// Samples per GEMM shape for the bound (0: skip the GEMM measurement).
        package var gemmRepetitions = 7
        package var seed: UInt64 = 0
        /// The engines' column tile width (nil: `UnrollEngine.defaultTileWidth`).
        package var tileWidth: Int?
        /// The kernel path's multiply-add peak (`FMAPeak`), when measured: results then give the
        /// fraction of it reached.
        package var fmaPeakGFLOPS: Double?
        /// The same peak in thread CPU time (`FMAPeak.Measurement.cpuGFLOPS`): results then give
        /// the fraction of it reached in thread CPU time.
        package var fmaPeakCPUGFLOPS: Double?
        package init(repetitions: Int = 10, warmup: Int = 2, evaluationSteps: Int = 100, evaluationRepetitions: Int = 3,
                    gemmRepetitions: Int = 7, seed: UInt64 = 0, tileWidth: Int? = nil, fmaPeakGFLOPS: Double? = nil,
                    fmaPeakCPUGFLOPS: Double? = nil) {
            self.tileWidth = tileWidth
            self.fmaPeakGFLOPS = fmaPeakGFLOPS
            self.fmaPeakCPUGFLOPS = fmaPeakCPUGFLOPS
            self.repetitions = repetitions
            self.warmup = warmup
            self.evaluationSteps = evaluationSteps
            self.evaluationRepetitions = evaluationRepetitions
            self.gemmRepetitions = gemmRepetitions
            self.seed = seed
        }
    }

    /// FLOPs per coordinate and unrolled step in the LSTM's matrix products (the JAX reference's
    /// model in `gemm_bench.py`; for two layers of 20 and 2 inputs, forward 2·(22·80 + 40·80 + 20)):
    /// forward each layer's product and the output layer; backward each layer's dW, the dX of
    /// every layer above the first, the recurrent part of the first layer's dX, and the output layer.
    package static func modelFLOPs(inputs: Int = 2, hiddenSizes: [Int] = [20, 20]) -> (forward: Int, backward: Int) {
        let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: hiddenSizes,
                                                            preprocessing: inputs == 1 ? .raw : .logAndSign(p: 10)))
        precondition(layout.config.inputCount == inputs, "the preprocessings have 1 or 2 inputs")
        let head = OutputHead<Float>.flops(lastHidden: hiddenSizes.last!)
        var forward = head.forward, backward = head.backward
        for (k, layer) in layout.blocks[0].layers.enumerated() {
            let product = 2 * layer.weightRows * layer.gates
            forward += product
            backward += product + (k == 0 ? 2 * layer.hidden * layer.gates : product)
        }
        return (forward, backward)
    }

    package struct Result: Codable, Sendable {
        package var workload: String
        package var family: String
        package var preprocessing: String
        package var outputScale: Double
        package var functions: Int
        package var blockSize: Int
        package var tileWidth: Int
        package var coordinates: Int
        package var unroll: Int
        package var repetitions: Int
        package var warmup: Int
        /// Seconds per meta-iteration, every timed repetition.
        package var metaIterationSeconds: [Double]
        package var metaIterationMedian: Double
        package var metaIterationMin: Double
        /// The same iterations in this thread's CPU time (differs from the wall time when other
        /// processes shared the core).
        package var metaIterationCPUSeconds: [Double]
        package var metaIterationCPUMedian: Double
        /// Coordinate-steps (coordinates × T) per second at the median.
        package var coordinateStepsPerSecond: Double
        /// The FLOP model's matrix-product FLOPs per meta-iteration / median time.
        package var achievedGFLOPS: Double
        package var modelFLOPsPerCoordinateStep: Int
        /// Per-shape GEMM speed of the linked BLAS on the shapes the engine calls.
        package var gemm: [GEMMBenchmark.Measurement]
        /// The FLOP-weighted harmonic mean of those speeds.
        package var gemmBoundGFLOPS: Double?
        /// Model FLOPs / bound speed: a meta-iteration that did only its matrix products, each at
        /// its measured speed.
        package var gemmBoundSeconds: Double?
        /// gemmBoundSeconds / median time (= achieved / bound GFLOP/s).
        package var fractionOfGEMMBound: Double?
        /// The same bound on the JAX reference's shapes (`gemm_bench.py`: one product per layer over
        /// all N coordinates, feature-major forward, dX and dW backward).
        package var peerShapeGEMM: [GEMMBenchmark.Measurement]
        package var peerShapeBoundGFLOPS: Double?
        package var peerShapeBoundSeconds: Double?
        package var fractionOfPeerShapeBound: Double?
        /// Seconds of a forward-only run of `evaluationSteps` steps (median).
        package var evaluationSteps: Int
        package var evaluationSeconds: [Double]
        package var evaluationMedian: Double?
        /// The kernel path's multiply-add peak and the fraction of it the meta-iteration reached
        /// (achieved GFLOP/s ÷ peak), when the peak was measured.
        package var fmaPeakGFLOPS: Double?
        package var fractionOfFMAPeak: Double?
        /// The FLOP model / the thread CPU time medians (meta-iteration; forward-only: its forward
        /// FLOPs), and their fractions of the CPU-time multiply-add peak: the steadier figures on
        /// a shared core.
        package var achievedCPUGFLOPS: Double?
        package var evaluationAchievedCPUGFLOPS: Double?
        package var fmaPeakCPUGFLOPS: Double?
        package var fractionOfFMAPeakCPU: Double?
        package var evaluationFractionOfFMAPeakCPU: Double?
        /// The same runs' thread CPU time (steadier than wall time on a shared machine).
        package var evaluationCPUSeconds: [Double]
        package var evaluationCPUMedian: Double?
        /// Bytes the forward-only engine allocated (no BPTT history), when it ran.
        package var evaluationEngineBytes: Int?
        /// Bytes the training engines allocated (BPTT history and work buffers), measured, and the
        /// engine's own formula for them.
        package var engineBytes: Int
        package var engineBytesStated: Int
        package var engineBytesPerFunction: Double
        /// VmHWM after the meta-iterations (before the forward-only engine exists), and at the end.
        package var peakResidentBytesTraining: Int?
        package var peakResidentBytes: Int?
        /// The unrolled loss of the last timed meta-iteration (sanity: finite).
        package var lastMetaLoss: Double
        /// Seconds per meta-iteration in each phase of the engine, from extra profiled iterations.
        package var phases: [PhaseTime]
        /// Seconds per forward-only run (`evaluationSteps` steps) in each phase of the forward-only
        /// engine that ran, from one extra profiled run, and the rest ("outside"); empty without
        /// the forward-only run. Optional, like the CPU-time figures above, so that results
        /// written before they existed (docs/scaling-mlp-bench.json) still read.
        package var evaluationPhases: [PhaseTime]?
    }

    package struct PhaseTime: Codable, Sendable {
        package var phase: String
        package var isGEMM: Bool
        package var seconds: Double
    }

    package static func run(_ workload: BenchmarkWorkload, options: Options = Options(),
                           log: (String) -> Void = { _ in }) -> Result {
        let architecture = workload.optimizer.architecture
        let truncationsPerHorizon = max(workload.horizon / workload.unroll, 1)
        var horizon = 0
        func sample(_ horizon: Int, _ range: Range<Int>) -> [any Optimizee] {
            range.map { workload.family.sample(RandomKey(seed: options.seed, horizon: horizon, task: $0)) }
        }
        let blocks = stride(from: 0, to: workload.functions, by: workload.blockSize).map {
            $0..<min($0 + workload.blockSize, workload.functions)
        }
        var engines = blocks.map {
            architecture.makeEngine(tasks: sample(0, $0), unroll: workload.unroll, kernelPath: nil, tileWidth: options.tileWidth)
        }
        var states = engines.map { $0.initialState() }
        var phi: [Float] = architecture.initialParameters(key: RandomKey(seed: options.seed, horizon: 0, task: 0))
        var adam = AdamState(count: architecture.parameterCount), adamSteps = 0
        var blockGradient = [Float](repeating: 0, count: architecture.parameterCount)
        var gradient = [Float](repeating: 0, count: architecture.parameterCount)
        let coordinates = engines.reduce(0) { $0 + $1.taskOffsets.last! }
        var truncation = 0
        var lastLoss = 0.0

        /// One meta-iteration; returns its seconds. New functions (outside the timing, as the
        /// reference does) every `truncationsPerHorizon` truncations.
        var lastCPU = 0.0
        func metaIteration() -> Double {
            if truncation == truncationsPerHorizon {
                truncation = 0
                horizon += 1
                for (i, engine) in engines.enumerated() {
                    engine.replaceTasks(sample(horizon, blocks[i]))
                    states[i] = engine.initialState()
                }
            }
            let start = Stopwatch.now(), startCPU = Stopwatch.threadCPU()
            var loss = 0.0
            for i in gradient.indices { gradient[i] = 0 }
            phi.withUnsafeBufferPointer { p in
                for (i, engine) in engines.enumerated() {
                    let losses = blockGradient.withUnsafeMutableBufferPointer {
                        engine.truncation(phi: p, state: &states[i], mode: .firstOrder, gradient: $0)
                    }
                    for l in losses { loss += Double(l) }
                    for j in gradient.indices { gradient[j] += blockGradient[j] }
                }
            }
            let scale = 1 / Float(workload.functions)
            for j in gradient.indices { gradient[j] *= scale }
            adamSteps += 1
            adam.apply(gradient: gradient, to: &phi, learningRate: 1e-3, step: adamSteps)
            let seconds = Double(Stopwatch.now() - start) / 1e9
            lastCPU = Double(Stopwatch.threadCPU() - startCPU) / 1e9
            truncation += 1
            lastLoss = loss / Double(workload.functions)
            return seconds
        }

        for _ in 0..<options.warmup { _ = metaIteration() }
        var times: [Double] = [], cpuTimes: [Double] = []
        for r in 0..<options.repetitions {
            times.append(metaIteration())
            cpuTimes.append(lastCPU)
            log("\(workload.name): meta-iteration \(r + 1)/\(options.repetitions): \(String(format: "%.2f", times.last! * 1e3)) ms")
        }
        // Extra iterations with the engines' phase timers on.
        for engine in engines { engine.profile = engine.makeProfile() }
        let profiled = max(3, options.repetitions / 2)
        var profiledSeconds = 0.0
        for _ in 0..<profiled { profiledSeconds += metaIteration() }
        var total = engines[0].makeProfile()
        for engine in engines {
            for (i, v) in engine.profile!.seconds.enumerated() { total.seconds[i] += v }
            engine.profile = nil
        }
        var phases = zip(total.phases, total.seconds).map {
            PhaseTime(phase: $0.name, isGEMM: $0.isGEMM, seconds: $1 / Double(profiled))
        }
        let engineTotal = phases.reduce(0) { $0 + $1.seconds }
        phases.append(PhaseTime(phase: "outside the engine phases (Adam, load/store)", isGEMM: false,
                                seconds: profiledSeconds / Double(profiled) - engineTotal))
        let peakTraining = ProcessMemory.peakResidentBytes
        let engineBytes = engines.reduce(0) { $0 + $1.allocatedBytes }
        let engineBytesStated = engines.reduce(0) { $0 + $1.statedBytes }

        // The GEMM bound on the engine's own shapes.
        var shapeCounts: [GEMMShape: Int] = [:]
        var order: [GEMMShape] = []
        for engine in engines {
            for s in engine.gemmShapes {
                var key = s
                key.callsPerStep = 1
                if shapeCounts[key] == nil { order.append(key) }
                shapeCounts[key, default: 0] += s.callsPerStep
            }
        }
        // The training engines go before the forward-only engine comes, so the peak RSS is the
        // training's (as in a training run).
        engines.removeAll()
        states.removeAll()

        // Forward-only evaluation: a fresh function batch, `evaluationSteps` steps, in an engine
        // with no BPTT history (as LearnedOptimizer runs it).
        var evaluationTimes: [Double] = [], evaluationCPUTimes: [Double] = []
        var evaluationEngineBytes: Int?
        var evaluationPhases: [PhaseTime] = []
        if options.evaluationSteps > 0 {
            let tasks = sample(1_000_000, 0..<workload.functions)
            let engine = architecture.makeForwardEngine(tasks: tasks, kernelPath: nil, tileWidth: options.tileWidth)
            evaluationEngineBytes = engine.allocatedBytes
            for r in 0..<(options.evaluationRepetitions + 1) {
                var state = engine.initialState()
                let startCPU = Stopwatch.threadCPU()
                let t = Stopwatch.time {
                    phi.withUnsafeBufferPointer {
                        engine.run(phi: $0, state: &state, steps: options.evaluationSteps) { _, _, _ in }
                    }
                }
                let cpu = Double(Stopwatch.threadCPU() - startCPU) / 1e9
                if r > 0 {  // the first run is warm-up
                    evaluationTimes.append(t)
                    evaluationCPUTimes.append(cpu)
                }
            }
            // One more run with the phase timers on (the timers cost about 0.1 µs per phase and
            // step, so it is kept out of the timed runs).
            engine.profile = engine.makeProfile()
            var state = engine.initialState()
            let profiledSeconds = Stopwatch.time {
                phi.withUnsafeBufferPointer {
                    engine.run(phi: $0, state: &state, steps: options.evaluationSteps) { _, _, _ in }
                }
            }
            let profile = engine.profile!
            engine.profile = nil
            evaluationPhases = zip(profile.phases, profile.seconds).filter { $1 > 0 }.map {
                PhaseTime(phase: $0.name, isGEMM: $0.isGEMM, seconds: $1)
            }
            evaluationPhases.append(PhaseTime(phase: "outside the engine phases (load/store)", isGEMM: false,
                                              seconds: profiledSeconds - profile.total))
        }

        let gemm = options.gemmRepetitions == 0 ? [] : order.map { shape -> GEMMBenchmark.Measurement in
            var s = shape
            s.callsPerStep = shapeCounts[shape]!
            return GEMMBenchmark.measure(s, repetitions: options.gemmRepetitions)
        }
        let flops = modelFLOPs(inputs: workload.optimizer.inputCount, hiddenSizes: workload.optimizer.hiddenSizes)
        let perCoordinateStep = flops.forward + flops.backward
        let modelFLOPs = Double(perCoordinateStep) * Double(coordinates) * Double(workload.unroll)
        let bound: Double? = gemm.isEmpty ? nil : GEMMBenchmark.boundGFLOPS(gemm)
        let peerGEMM = options.gemmRepetitions == 0 || workload.optimizer.inputCount != 2 || workload.optimizer.hiddenSizes != [20, 20]
            ? [] : GEMMBenchmark.peerShapes(coordinates: coordinates).map {
                GEMMBenchmark.measure($0, repetitions: options.gemmRepetitions)
            }
        let peerBound: Double? = peerGEMM.isEmpty ? nil : GEMMBenchmark.boundGFLOPS(peerGEMM)
        let med = median(times)
        let achieved = modelFLOPs / med / 1e9
        let achievedCPU = modelFLOPs / median(cpuTimes) / 1e9
        let evaluationFLOPs = Double(flops.forward) * Double(coordinates) * Double(options.evaluationSteps)
        let evaluationAchievedCPU = evaluationCPUTimes.isEmpty ? nil : evaluationFLOPs / median(evaluationCPUTimes) / 1e9
        return Result(workload: workload.name, family: workload.family.name,
                      preprocessing: workload.optimizer.preprocessing.description,
                      outputScale: workload.optimizer.outputScale, functions: workload.functions,
                      blockSize: workload.blockSize, tileWidth: options.tileWidth ?? UnrollEngine<Float>.defaultTileWidth,
                      coordinates: coordinates, unroll: workload.unroll,
                      repetitions: options.repetitions, warmup: options.warmup, metaIterationSeconds: times,
                      metaIterationMedian: med, metaIterationMin: times.min() ?? .nan,
                      metaIterationCPUSeconds: cpuTimes, metaIterationCPUMedian: median(cpuTimes),
                      coordinateStepsPerSecond: Double(coordinates * workload.unroll) / med,
                      achievedGFLOPS: achieved, modelFLOPsPerCoordinateStep: perCoordinateStep, gemm: gemm,
                      gemmBoundGFLOPS: bound, gemmBoundSeconds: bound.map { modelFLOPs / ($0 * 1e9) },
                      fractionOfGEMMBound: bound.map { achieved / $0 },
                      peerShapeGEMM: peerGEMM, peerShapeBoundGFLOPS: peerBound,
                      peerShapeBoundSeconds: peerBound.map { modelFLOPs / ($0 * 1e9) },
                      fractionOfPeerShapeBound: peerBound.map { achieved / $0 }, evaluationSteps: options.evaluationSteps,
                      evaluationSeconds: evaluationTimes,
                      evaluationMedian: evaluationTimes.isEmpty ? nil : median(evaluationTimes),
                      fmaPeakGFLOPS: options.fmaPeakGFLOPS, fractionOfFMAPeak: options.fmaPeakGFLOPS.map { achieved / $0 },
                      achievedCPUGFLOPS: achievedCPU, evaluationAchievedCPUGFLOPS: evaluationAchievedCPU,
                      fmaPeakCPUGFLOPS: options.fmaPeakCPUGFLOPS,
                      fractionOfFMAPeakCPU: options.fmaPeakCPUGFLOPS.map { achievedCPU / $0 },
                      evaluationFractionOfFMAPeakCPU: options.fmaPeakCPUGFLOPS.flatMap { p in evaluationAchievedCPU.map { $0 / p } },
                      evaluationCPUSeconds: evaluationCPUTimes,
                      evaluationCPUMedian: evaluationCPUTimes.isEmpty ? nil : median(evaluationCPUTimes),
                      evaluationEngineBytes: evaluationEngineBytes,
                      engineBytes: engineBytes, engineBytesStated: engineBytesStated,
                      engineBytesPerFunction: Double(engineBytes) / Double(workload.functions),
                      peakResidentBytesTraining: peakTraining,
                      // The kernel updates its high-water mark lazily: a later reading came out a
                      // few pages lower than the earlier one.
                      peakResidentBytes: [peakTraining, ProcessMemory.peakResidentBytes].compactMap { $0 }.max(),
                      lastMetaLoss: lastLoss, phases: phases, evaluationPhases: evaluationPhases)
    }
}
