import ArgumentParser
import Foundation
import MetaOpt

/// `metaopt-dist bench`: meta-iteration speed on one core, against the linked BLAS's GEMM speed.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time meta-iterations of the learned optimizer on one core (see docs/performance.md).",
        discussion: """
            A meta-iteration is what one meta-step computes per rank: T = 20 unrolled steps of every \
            function, the first-order meta-gradient and an Adam step on φ. Workloads: 'quadratic' \
            (B = 128 ten-dimensional quadratics, 1,280 coordinates, with the JAX reference's \
            Appendix-A preprocessing and output scale 0.1), 'quadratic-defaults' (the same functions \
            with the project's quadratic defaults: raw input, output scale 1), 'mlp' (one 784-20-10 \
            sigmoid MLP on Fashion-MNIST, 15,910 coordinates, minibatch 128, the reference's \
            settings) and 'mlp-synthetic' (a stand-in with the MLP's coordinate count and almost no \
            optimizee cost; needs no data). 'cnn-step' and 'mlp-step' time one step of the default CNN or \
            MLP optimizee alone (loss and gradient on a minibatch of 128 Fashion-MNIST images; see \
            docs/performance.md, "The CNN optimizee"): median ms per step over --repetitions samples of \
            10 steps. Prints medians after warm-up: ms per meta-iteration (and \
            thread CPU time), coordinate-steps per second, achieved GFLOP/s (with the log/sign input \
            9,960 forward + 19,600 backward matrix-product FLOPs per coordinate-step; 29,240 in all with \
            the raw input), the single-thread speed of the linked \
            OpenBLAS on the reference's matrix shapes and on this engine's own calls with the \
            fraction of each bound reached, a per-phase profile, a forward-only evaluation, the \
            engine's BPTT memory (allocated and from its formula) and the peak RSS (VmHWM). Pin it \
            to one core (taskset -c 0). It first names the kernel path (METAOPT_KERNELS forces one), \
            OpenBLAS's kernels (its own choice per CPU, whatever the path; OPENBLAS_CORETYPE forces \
            one) and who runs the LSTM layers' products (our own kernel by default on x86-64, \
            OpenBLAS on aarch64; METAOPT_MATRIX_PRODUCTS=own|openblas forces either; on AMD's \
            AVX-512 CPUs the forward products pair their terms, METAOPT_FORWARD_PRODUCTS=plain does \
            not, =paired makes Intel's pair them too). See \
            docs/performance.md.
            """)

    @Option(help: ArgumentHelp("Workload (all: quadratic, quadratic-defaults, mlp).",
                               valueName: "quadratic|quadratic-defaults|mlp|mlp-synthetic|cnn-step|mlp-step|all"))
    var task = "all"

    @Option(help: "Fashion-MNIST directory for --task mlp, cnn-step and mlp-step (default: the data set's standard location).")
    var dataDir: String?

    @Option(help: "Timed meta-iterations per workload (the median is reported).")
    var repetitions = 10

    @Option(help: "Untimed meta-iterations first.")
    var warmup = 2

    @Option(help: "Steps of the forward-only evaluation (0: skip it).")
    var evaluationSteps = 100

    @Option(help: "Timed forward-only evaluations.")
    var evaluationRepetitions = 3

    @Option(help: "Functions per engine for the quadratic workloads (default: all 128 in one engine, as the reference).")
    var blockSize: Int?

    @Option(help: "Samples per GEMM shape for the bound (0: skip).")
    var gemmRepetitions = 7

    @Option(help: "Samples of the kernel path's multiply-add peak, 0.1 s each (0: skip it).")
    var fmaPeakSamples = 5

    @Option(help: "Column tile width of the engine (a multiple of 16 from 16 to \(BenchCommand.largestTileWidth); default \(UnrollEngine<Float>.defaultTileWidth)).")
    var tileWidth: Int?

    @Option(help: ArgumentHelp("Output format on stdout.", valueName: "text|json"))
    var format = "text"

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Option(help: "OpenBLAS threads (the engine's results are reproducible with 1).")
    var blasThreads = 1

    /// 16 times the default: wider tiles only cost memory (the engine's scratch grows with the
    /// tile: a million columns was killed past 14 GiB), and no width from 128 to 512 beat 256 in
    /// performance.md's probes.
    static let largestTileWidth = 4096

    static let workloadNames = ["quadratic", "quadratic-defaults", "mlp", "mlp-synthetic", "cnn-step", "mlp-step"]
    /// The functions of the quadratic workloads (the reference's meta-batch).
    static let quadraticFunctions = 128

    /// The options a workload does not read (`all` reads each where it applies).
    static func unreadOptions(task: String) -> [String] {
        switch task {
        case "quadratic", "quadratic-defaults": return ["data-dir"]
        case "mlp": return ["block-size"]
        case "mlp-synthetic": return ["block-size", "data-dir"]
        case "cnn-step", "mlp-step":
            return ["block-size", "tile-width", "evaluation-steps", "evaluation-repetitions", "gemm-repetitions", "fma-peak-samples"]
        default: return []
        }
    }
    static let allWorkloads = ["quadratic", "quadratic-defaults", "mlp"]

    func validate() throws {
        if let problem = SingleProcess.problem(command: "bench") { throw ValidationError(problem) }
        guard task == "all" || Self.workloadNames.contains(task) else {
            throw ValidationError("unknown task '\(task)'; valid: \((Self.workloadNames + ["all"]).joined(separator: ", "))")
        }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard evaluationSteps >= 0 else { throw ValidationError("--evaluation-steps must not be negative") }
        guard evaluationRepetitions >= 1 else { throw ValidationError("--evaluation-repetitions must be positive") }
        if evaluationSteps == 0, OptionScope.givenOnCommandLine.contains("evaluation-repetitions") {
            throw ValidationError("--evaluation-repetitions does not apply with --evaluation-steps 0 (no forward-only evaluation)")
        }
        // As train and evaluate say it, before any timing (it used to fail after the quadratics').
        if let problem = ImageTaskSpec.directoryProblem(dataDir) { throw ValidationError(problem) }
        if let b = blockSize, b < 1 { throw ValidationError("--block-size must be positive") }
        if let b = blockSize, b > Self.quadraticFunctions {
            throw ValidationError("--block-size must be at most \(Self.quadraticFunctions), the quadratic workloads' functions (got \(b))")
        }
        // Accepted and ignored, they would time another workload than the one asked for.
        if let option = Self.unreadOptions(task: task).first(where: OptionScope.givenOnCommandLine.contains) {
            throw ValidationError("--\(option) does not apply to --task \(task)")
        }
        guard gemmRepetitions >= 0 else { throw ValidationError("--gemm-repetitions must not be negative") }
        guard fmaPeakSamples >= 0 else { throw ValidationError("--fma-peak-samples must not be negative") }
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        if let w = tileWidth, w < 16 || w > Self.largestTileWidth || w % 16 != 0 {
            throw ValidationError("--tile-width must be a multiple of 16 from 16 to \(Self.largestTileWidth) (got \(w))")
        }
        if let json, json.isEmpty { throw ValidationError("--json must not be empty") }
        guard blasThreads >= 1 else { throw ValidationError("--blas-threads must be positive") }
        // Bounded, as train's counts are: past them a count overflowed (a trap after the timing)
        // or OpenBLAS's thread count (a C int) trapped.
        for (name, value, limit) in [("--repetitions", repetitions, Self.largestCount), ("--warmup", warmup, Self.largestCount),
                                     ("--evaluation-steps", evaluationSteps, Self.largestCount),
                                     ("--evaluation-repetitions", evaluationRepetitions, Self.largestCount),
                                     ("--gemm-repetitions", gemmRepetitions, Self.largestCount),
                                     ("--fma-peak-samples", fmaPeakSamples, Self.largestCount), ("--blas-threads", blasThreads, 1024)] {
            if let problem = SizeLimits.problem(name, value, limit: limit) { throw ValidationError(problem) }
        }
    }

    /// The largest repetition or step count bench takes (a million: days of timing at the least).
    static let largestCount = 1_000_000

    /// The workloads by name: any `TaskFamily` can be timed through `BenchmarkWorkload`.
    func workload(_ name: String) throws -> BenchmarkWorkload {
        switch name {
        case "quadratic": return .quadratic(functions: Self.quadraticFunctions, blockSize: blockSize)
        case "quadratic-defaults": return .quadraticDefaults(functions: Self.quadraticFunctions, blockSize: blockSize)
        case "mlp": return try .realMLP(directory: dataDir)
        default: return .mlp(name: "mlp-synthetic")
        }
    }

    func run() throws {
        setBLASThreads(blasThreads)
        // Checked now, not after minutes of timing.
        if let json { try ResultFile.checkWritable(FilePaths.url(json)) }
        if task.hasSuffix("-step") { return try runOptimizeeStep() }
        let names = task == "all" ? Self.allWorkloads : [task]
        // The data set is read before any timing: a missing or damaged file stops the bench now.
        let workloads = try names.map(workload)
        let peak = fmaPeakSamples == 0 ? nil : FMAPeak.measure(samples: fmaPeakSamples)
        let options = MetaIterationBenchmark.Options(repetitions: repetitions, warmup: warmup,
                                                     evaluationSteps: evaluationSteps,
                                                     evaluationRepetitions: evaluationRepetitions,
                                                     gemmRepetitions: gemmRepetitions, tileWidth: tileWidth,
                                                     fmaPeakGFLOPS: peak?.gflops, fmaPeakCPUGFLOPS: peak?.cpuGFLOPS)
        if format == "text" {
            print(kernelsLine())
            let choice = OpenBLASFallback.note ?? "its own choice for this CPU, or OPENBLAS_CORETYPE"
            print("OpenBLAS            \(blasCoreName) kernels (\(choice)); "
                  + "the layers' products z = Wᵀ X, dX = W dZ on: \(KernelPath.default.layerProducts)")
            if let peak {
                print(String(format: "multiply-add peak   %.1f GFLOP/s on one core (%@ kernels; best of %d samples); "
                             + "%.1f GFLOP/s in thread CPU time", peak.gflops, peak.kernels, peak.samples.count,
                             peak.cpuGFLOPS))
            }
        }
        var results: [MetaIterationBenchmark.Result] = []
        for workload in workloads {
            let result = MetaIterationBenchmark.run(workload, options: options)
            results.append(result)
            if format == "text" { print(Self.describe(result)) }
        }
        try emit(report(fmaPeak: peak, results: results))
    }

    /// `--task cnn-step` or `mlp-step`: one optimizee step (loss and gradient), no learned optimizer.
    func runOptimizeeStep() throws {
        let architecture: ImageClassificationFamily.Architecture = task == "mlp-step" ? .mlp(MLPArchitecture()) : .cnn(CNNArchitecture())
        let spec = TaskSpec.image(ImageTaskSpec(architecture: architecture, directory: dataDir))
        let r = OptimizeeStepBenchmark.run(family: try spec.makeFamily(), workload: task, repetitions: repetitions, warmup: warmup)
        if format == "text" {
            print(kernelsLine())
            print("== \(r.workload): one step of \(r.family), \(r.dimension) parameters, loss and gradient")
            print(String(format: "step                median %.3f ms  min %.3f ms  (%d samples of %d steps after %d warm-up); "
                         + "thread CPU time median %.3f ms", r.stepMedian * 1e3, r.stepMin * 1e3, r.repetitions,
                         r.stepsPerSample, r.warmup, r.stepCPUMedian * 1e3))
            print(String(format: "last loss           %.6g", r.lastLoss))
        }
        try emit(report(fmaPeak: nil, results: [r]))
    }

    /// The results with the machine and the kernels that ran them.
    func report<Result: Codable>(fmaPeak: FMAPeak.Measurement?, results: [Result]) -> BenchReport<Result> {
        BenchReport(blasThreads: blasThreads, cpuAffinity: Self.affinity(), kernels: KernelPath.default.rawValue,
                    cpu: KernelPath.cpuName, blasCore: blasCoreName, layerProducts: KernelPath.default.layerProducts,
                    fmaPeak: fmaPeak, results: results)
    }

    /// The results as JSON: on standard output with `--format json`, and to the `--json` file.
    func emit(_ results: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(results)
        if format == "json" { print(String(decoding: data, as: UTF8.self)) }
        if let path = json { try ResultFile.writeAtomically(data, to: FilePaths.url(path)) }
    }

    struct BenchReport<Result: Codable>: Codable {
        var blasThreads: Int
        var cpuAffinity: String?
        /// The kernel path the engines ran (`METAOPT_KERNELS` or the fastest this CPU has).
        var kernels: String
        var cpu: String
        /// The core type of OpenBLAS's sgemm kernels (`METAOPT_KERNELS` does not change them).
        var blasCore: String
        /// Who ran the LSTM layers' products: "own kernel" (", forward products paired") or
        /// "OpenBLAS" (`KernelPath.layerProducts`).
        var layerProducts: String
        /// The kernel path's multiply-add peak on one core (`FMAPeak`), when measured.
        var fmaPeak: FMAPeak.Measurement?
        var results: [Result]
    }

    /// The CPUs this process may run on (Cpus_allowed_list of /proc/self/status), e.g. "0".
    static func affinity() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
            .map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) }
    }

    static func describe(_ r: MetaIterationBenchmark.Result) -> String {
        func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1e3) }
        func mb(_ b: Int?) -> String { b.map { String(format: "%.1f MB", Double($0) / 1e6) } ?? "n/a" }
        var lines = [
            "== \(r.workload): \(r.functions) function(s) of \(r.family), \(r.coordinates) coordinates, "
                + "\(r.preprocessing), output scale \(r.outputScale), block size \(r.blockSize), tile width \(r.tileWidth), T = \(r.unroll)",
            "meta-iteration      median \(ms(r.metaIterationMedian))  min \(ms(r.metaIterationMin))  "
                + "(\(r.repetitions) timed after \(r.warmup) warm-up); thread CPU time median \(ms(r.metaIterationCPUMedian))",
            String(format: "coordinate-steps/s  %.3g", r.coordinateStepsPerSecond),
            String(format: "achieved            %.1f GFLOP/s  (%d FLOP per coordinate-step)%@", r.achievedGFLOPS,
                   r.modelFLOPsPerCoordinateStep,
                   r.fractionOfFMAPeak.map { String(format: "; %.1f%% of the multiply-add peak", $0 * 100) } ?? ""),
            String(format: "  by CPU time       %.1f GFLOP/s%@", r.achievedCPUGFLOPS ?? .nan,
                   r.fractionOfFMAPeakCPU.map { String(format: "; %.1f%% of the CPU-time peak", $0 * 100) } ?? ""),
        ]
        func gemmLines(_ title: String, _ bound: Double?, _ seconds: Double?, _ fraction: Double?,
                       _ measurements: [GEMMBenchmark.Measurement]) {
            guard let bound, let seconds, let fraction else { return }
            lines.append(String(format: "%@ %.1f GFLOP/s = %@ per meta-iteration; reached %.1f%%",
                                title, bound, ms(seconds), fraction * 100))
            for g in measurements {
                lines.append(String(format: "  sgemm %@%@ m=%d n=%d k=%d ×%d: %.1f GFLOP/s (min %.1f, max %.1f)",
                                    g.shape.transposeA ? "T" : "N", g.shape.transposeB ? "T" : "N", g.shape.m, g.shape.n,
                                    g.shape.k, g.shape.callsPerStep, g.gflopsMedian, g.gflopsMin, g.gflopsMax)
                             + "  \(g.shape.name)")
            }
        }
        gemmLines("GEMM bound, reference shapes   ", r.peerShapeBoundGFLOPS, r.peerShapeBoundSeconds,
                  r.fractionOfPeerShapeBound, r.peerShapeGEMM)
        gemmLines("GEMM bound, this engine's calls", r.gemmBoundGFLOPS, r.gemmBoundSeconds, r.fractionOfGEMMBound, r.gemm)
        /// One line a phase: its name, its time and its share of `total`.
        func phaseLines(_ phases: [MetaIterationBenchmark.PhaseTime], of total: Double) {
            for p in phases {
                lines.append("  " + p.phase.padding(toLength: 46, withPad: " ", startingAt: 0)
                             + String(format: " %8.2f ms  %5.1f%%", p.seconds * 1e3, 100 * p.seconds / total))
            }
        }
        let profiled = r.phases.reduce(0) { $0 + $1.seconds }
        lines.append(String(format: "phases (profiled iterations, %@ each):", ms(profiled)))
        phaseLines(r.phases, of: profiled)
        let gemm = r.phases.filter(\.isGEMM).reduce(0) { $0 + $1.seconds }
        lines.append(String(format: "  all matrix products %.2f ms (%.1f%%), everything else %.2f ms", gemm * 1e3, 100 * gemm / profiled,
                            (profiled - gemm) * 1e3))
        if let e = r.evaluationMedian {
            lines.append("forward-only \(r.evaluationSteps) steps  median \(ms(e))"
                         + (r.evaluationCPUMedian.map { "; thread CPU time median \(ms($0))" } ?? "")
                         + (r.evaluationEngineBytes.map { "; engine \(mb($0))" } ?? ""))
            if let g = r.evaluationAchievedCPUGFLOPS {
                lines.append(String(format: "  by CPU time       %.1f GFLOP/s (forward FLOPs)%@", g,
                                    r.evaluationFractionOfFMAPeakCPU.map { String(format: "; %.1f%% of the CPU-time peak", $0 * 100) } ?? ""))
            }
            let evaluationPhases = r.evaluationPhases ?? []
            let profiledRun = evaluationPhases.reduce(0) { $0 + $1.seconds }
            if profiledRun > 0 {
                lines.append(String(format: "forward-only phases (one profiled run, %@):", ms(profiledRun)))
                phaseLines(evaluationPhases, of: profiledRun)
            }
        }
        lines.append("engine memory       \(mb(r.engineBytes)) allocated (formula \(mb(r.engineBytesStated))), "
                     + String(format: "%.1f MB per function", r.engineBytesPerFunction / 1e6))
        lines.append("peak RSS (VmHWM)    \(mb(r.peakResidentBytesTraining)) after training, \(mb(r.peakResidentBytes)) at the end")
        lines.append(String(format: "last meta-loss      %.6g", r.lastMetaLoss))
        return lines.joined(separator: "\n")
    }
}
