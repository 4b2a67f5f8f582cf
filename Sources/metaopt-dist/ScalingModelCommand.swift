import ArgumentParser
import Foundation
import MetaOpt

/// Hidden: evaluates `ScalingModel` (time per meta-step and wall-clock to a target validation
/// score on R = groups × shards ranks) for the MLP workloads of docs/scaling.md, on assumed
/// cluster networks, and writes a Markdown table, a CSV and an SVG plot of the efficiency.
///
/// The compute defaults are the constants of docs/scaling.md ("Compute profile of an MLP meta-step",
/// with the commands): `bench --task mlp`'s per-phase profile split into the optimizee's part
/// (f and ∇f of the whole θ, which every shard repeats) and the per-coordinate rest,
/// `allreduce-bench`'s fixed-point encoding and the 1-rank runs' time outside compute, so that
/// the command without options models what that page shows. The networks' α and β are
/// assumptions (see `ScalingModel.Network`); `--network` adds others, e.g. from the fits
/// `allreduce-bench` prints, whose β is per byte of the whole gathered buffer where the model's is
/// per byte a rank receives: × S/(S − 1) for S ranks.
struct ScalingModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling-model",
        abstract: "Model time per meta-step and efficiency on R = groups × shards ranks (docs/scaling.md).",
        shouldDisplay: false)

    @Option(help: "validation.jsonl of a run of the modelled training: the meta-steps to --target come from it.")
    var validation: String?

    @Option(help: "Target validation score (mean final loss) for the wall-clock column.")
    var target: Double?

    @Option(help: "The meta-batch of the --validation run: only workloads with it get a wall-clock to the target.")
    var validationMetaBatch = 2

    @Option(help: "t_f: µs of the optimizee's f and ∇f per function and unrolled step (every shard repeats it; default: docs/scaling.md's measurement, the MLP phase of bench --task mlp / 20).")
    var optimizeeUs = 282.5

    @Option(help: "t_c: ns per coordinate and unrolled step for everything else (LSTM, preprocessing, θ update, adjoint; default: docs/scaling.md's measurement).")
    var coordinateNs = 441.8

    @Option(help: "JSON of `bench --task mlp --json FILE`: t_f and t_c from its median meta-iteration, split by its profiled optimizee phase (overrides --optimizee-us and --coordinate-ns).")
    var bench: String?

    @Option(help: "t_e: ns to encode one meta-gradient value in fixed point (allreduce-bench's ENCODE line; default: docs/scaling.md's measurement).")
    var encodeNs = 5.1

    @Option(help: "t_u: µs per meta-step on every rank (Adam, decoding, bookkeeping; default: docs/scaling.md's, from 1-rank runs' step minus compute).")
    var fixedUs = 1_000.0

    @Option(help: "σ: relative per-step noise of a rank's compute time (assumed 0.01 for dedicated nodes).")
    var noise = 0.01

    @Option(help: "|φ| of the learned optimizer (5,141: two LSTM layers of 20 with the log/sign preprocessing).")
    var phiCount = 5_141

    @Option(help: "Coordinates of one MLP function (784-20-10: 15,910).")
    var coordinates = 15_910

    @Option(help: "Unrolled steps per meta-step.")
    var unroll = 20

    @Option(parsing: .upToNextOption, help: "Meta-batches to model, each with block size 1 (the MLP recipe's is 2).")
    var metaBatch: [Int] = [1, 2, 8]

    @Option(parsing: .upToNextOption, help: "Rank counts to evaluate.")
    var ranks: [Int] = (0...8).map { 1 << $0 }

    @Option(help: "Shards per group at every rank count (rank counts it does not divide are left out); default: the fastest layout at each.")
    var shards: Int?

    @Option(help: ArgumentHelp("Extra network (repeatable): NAME:ALPHA_US:BETA_NS_PER_BYTE.", valueName: "name:alpha:beta"))
    var network: [String] = []

    @Flag(help: "Leave out the assumed 25 GbE and InfiniBand HDR networks.")
    var noAssumedNetworks = false

    @Option(help: ArgumentHelp("A measured efficiency to mark on the plot (repeatable): RANKS:EFFICIENCY:LABEL.",
                               valueName: "ranks:efficiency:label"))
    var measured: [String] = []

    @Option(help: "Markdown table to write (default: standard output).")
    var markdown: String?

    @Option(help: "CSV to write.")
    var csv: String?

    @Option(help: "SVG plot of the efficiency to write.")
    var svg: String?

    @Option(help: "Plot title.")
    var title = "Modelled efficiency of sharded MLP meta-training"

    @Option(help: "Second line under the plot title.")
    var subtitle: String?

    func validate() throws {
        guard (target == nil) == (validation == nil) else { throw ValidationError("--validation and --target go together") }
        for (name, v) in [("--optimizee-us", optimizeeUs), ("--coordinate-ns", coordinateNs), ("--encode-ns", encodeNs),
                          ("--fixed-us", fixedUs), ("--noise", noise)] where !(v.isFinite && v >= 0) {
            throw ValidationError("\(name) must be finite and not negative, got \(v)")
        }
        guard validationMetaBatch >= 1 else { throw ValidationError("--validation-meta-batch must be positive, got \(validationMetaBatch)") }
        if let problem = SizeLimits.problem("--validation-meta-batch", validationMetaBatch, limit: SizeLimits.functions) {
            throw ValidationError(problem)
        }
        guard phiCount >= 1, coordinates >= 1, unroll >= 1 else { throw ValidationError("--phi-count, --coordinates and --unroll must be positive") }
        guard !metaBatch.isEmpty, metaBatch.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--meta-batch values must be positive") }
        guard !ranks.isEmpty, ranks.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--ranks values must be positive") }
        // Training's own limits (SizeLimits), and a million ranks: past them the model's products
        // overflowed (a trap) and its search over layouts ran for ever.
        let limits = [SizeLimits.problem("--phi-count", phiCount, limit: SizeLimits.coordinates),
                      SizeLimits.problem("--coordinates", coordinates, limit: SizeLimits.coordinates),
                      SizeLimits.problem("--unroll", unroll, limit: SizeLimits.unroll),
                      metaBatch.max().flatMap { SizeLimits.problem("a --meta-batch value", $0, limit: SizeLimits.functions) },
                      ranks.max().flatMap { SizeLimits.problem("a --ranks value", $0, limit: Self.mostRanks) },
                      shards.flatMap { SizeLimits.problem("--shards", $0, limit: Self.mostRanks) }]
        if let problem = limits.compactMap({ $0 }).first { throw ValidationError(problem) }
        if let shards, shards < 1 { throw ValidationError("--shards must be positive, got \(shards)") }
        _ = try networks()
        _ = try measuredPoints()
        if noAssumedNetworks && network.isEmpty { throw ValidationError("no network left to model") }
    }

    /// The most ranks modelled.
    static let mostRanks = 1 << 20

    func networks() throws -> [ScalingModel.Network] {
        var result = noAssumedNetworks ? [] : [ScalingModel.Network.ethernet25G, .infinibandHDR]
        for spec in network {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, let a = Double(parts[1]), let b = Double(parts[2]),
                  a >= 0, b >= 0, a.isFinite, b.isFinite else {
                throw ValidationError("--network wants NAME:ALPHA_US:BETA_NS_PER_BYTE, got '\(spec)'")
            }
            result.append(ScalingModel.Network(name: String(parts[0]), alpha: a * 1e-6, beta: b * 1e-9))
        }
        return result
    }

    func measuredPoints() throws -> [ScalingModelReport.MeasuredPoint] {
        try measured.map { spec in
            let parts = spec.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let r = Int(parts[0]), r >= 1, r <= Self.mostRanks, let e = Double(parts[1]), e.isFinite, e >= 0,
                  !parts[2].isEmpty else {
                throw ValidationError("--measured wants RANKS:EFFICIENCY:LABEL, got '\(spec)'")
            }
            return ScalingModelReport.MeasuredPoint(label: String(parts[2]), ranks: r, efficiency: e)
        }
    }

    /// t_f and t_c of a `bench` JSON file's MLP result of one function (the first such result:
    /// `bench --task all` writes the quadratics' first), checked: a damaged or edited file gave
    /// NaN or negative times with status 0.
    static func constants(bench path: String) throws -> (Double, Double) {
        struct Report: Decodable { var results: [MetaIterationBenchmark.Result] }
        let data: Data
        do { data = Data(try RegularFile.read(path, limit: RegularFile.textFileLimit)) } catch {
            throw ValidationError("--bench \(path) \(error.reason)")
        }
        let report: Report
        do { report = try JSONDecoder().decode(Report.self, from: data) } catch {
            throw ValidationError("--bench \(path) is not the JSON of `bench --json` (\(JSONDiagnosis.describe(error, in: data)))")
        }
        guard let r = report.results.first(where: { $0.family == "mlp" && $0.functions == 1 }),
              let optimizee = r.phases.first(where: { $0.phase.hasPrefix("optimizee") }) else {
            throw ValidationError("--bench \(path): no MLP result of one function with an optimizee phase (bench --task mlp --json FILE writes one)")
        }
        let profiled = r.phases.reduce(0) { $0 + $1.seconds }
        guard r.metaIterationMedian.isFinite, r.metaIterationMedian > 0, r.unroll >= 1, r.coordinates >= 1,
              r.phases.allSatisfy({ $0.seconds.isFinite && $0.seconds >= 0 }), profiled > 0, optimizee.seconds <= profiled else {
            throw ValidationError("--bench \(path): its MLP result has no usable times (the median meta-iteration must be positive, the phases' times finite, not negative and not all zero; unroll and coordinates positive)")
        }
        let split = ScalingModel.split(metaIteration: r.metaIterationMedian, optimizeePhase: optimizee.seconds,
                                       profiledTotal: profiled, coordinates: r.coordinates, unroll: r.unroll)
        return (split.optimizeePerFunctionStep, split.perCoordinateStep)
    }

    func run() throws {
        let outputs = [("--csv", csv), ("--svg", svg), ("--markdown", markdown)].compactMap { option, path in path.map { (option, $0) } }
        try refuseCollidingOutputs(outputs, inputs: [validation, bench].compactMap { $0.map(FilePaths.url) })
        var stepsToTarget: Int? = nil
        if let validation, let target {
            guard let data = FileManager.default.contents(atPath: validation) else {
                throw ValidationError("cannot read \(validation)")
            }
            let lines = try TrainingLog.parseValidation(data, source: validation)
            guard let steps = ScalingModel.metaStepsToTarget(lines, target: target) else {
                throw ValidationError("\(validation) never reaches a validation score of \(target)")
            }
            stepsToTarget = steps
        }
        var (optimizeeStep, coordinateStep) = (optimizeeUs * 1e-6, coordinateNs * 1e-9)
        if let bench {
            (optimizeeStep, coordinateStep) = try Self.constants(bench: bench)
            Console.error(String(format: "scaling-model: from %@: t_f = %.1f µs, t_c = %.1f ns\n", bench, optimizeeStep * 1e6, coordinateStep * 1e9))
        }
        let compute = ScalingModel.Compute(optimizeePerFunctionStep: optimizeeStep, perCoordinateStep: coordinateStep,
                                           encodePerValue: encodeNs * 1e-9, perMetaStep: fixedUs * 1e-6, noise: noise)
        let workloads = metaBatch.map {
            ScalingModel.Workload(name: "MLP, meta-batch \($0)", coordinatesPerFunction: coordinates, metaBatch: $0,
                                  blockSize: 1, unroll: unroll, phiCount: phiCount)
        }
        var report = ScalingModelReport(workloads: workloads, networks: try networks(), compute: compute, ranks: ranks,
                                        metaStepsToTarget: stepsToTarget.map { ($0, validationMetaBatch) })
        report.shards = shards
        let rows = report.rows()
        var table = ""
        if let stepsToTarget, let target {
            table += "Meta-steps to a validation score of \(target) at meta-batch \(validationMetaBatch): \(stepsToTarget) "
                + "(the same for every layout; \(validation ?? "")).\n\n"
        }
        guard !rows.isEmpty else {
            throw ValidationError("no layout to model: --shards \(shards ?? 0) divides none of the rank counts \(ranks.map(String.init).joined(separator: ", ")) into groups the meta-batches can use")
        }
        table += ScalingModelReport.markdown(rows)
        // All or none: a path that cannot be written left the files before it new, those after it old.
        var files: [(data: Data, url: URL)] = []
        if let csv { files.append((Data(ScalingModelReport.csv(rows).utf8), FilePaths.url(csv))) }
        if let svg {
            let figure = ScalingModelReport.figure(rows, measured: try measuredPoints(), title: title, subtitle: subtitle)
            files.append((Data(figure.render().utf8), FilePaths.url(svg)))
        }
        if let markdown { files.append((Data(table.utf8), FilePaths.url(markdown))) }
        try ResultFile.writeAllAtomically(files)
        if markdown == nil { print(table, terminator: "") }
    }
}
