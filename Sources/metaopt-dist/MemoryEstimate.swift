import Foundation
import MetaOpt

/// Refusing, before any work, a configuration whose estimated memory exceeds what one rank may
/// use (an allocation past the machine ends in a trap, rc 134, after minutes of start-up).
///
/// Estimate against peak RSS (`/usr/bin/time -v`, one rank, AVX-512 path; train with
/// --meta-batch 1 --block-size 1 --iterations 1 unless said):
///
///     train --dimension 1 --unroll 4096 --horizon 4096           0.85 GiB est.    0.83 GiB RSS
///     train --dimension 1 --unroll 16384 --horizon 16384         3.21 GiB est.    3.18 GiB RSS
///     train --dimension 1 --hidden-size 1024                     2.82 GiB est.    2.70 GiB RSS
///     train --dimension 1 --hidden-size 2048                    10.6  GiB est.   10.2  GiB RSS
///     train --dimension 2048 (quadratic)                         0.38 GiB est.    0.35 GiB RSS
///     train --dimension 4096 (quadratic)                         1.26 GiB est.    1.23 GiB RSS
///     train (default quadratic), --iterations 50                 0.103 GiB est.   0.077 GiB RSS
///     train --task mlp (default), --iterations 3                 2.26 GiB est.    2.28 GiB RSS
///     train --mode second-order --dimension 200 --iterations 2
///       --meta-batch 128 --block-size 16                        0.595 GiB est.   0.571 GiB RSS
///     train --mode second-order --dimension 1000 --iterations 2
///       --meta-batch 128 --block-size 16                        4.16 GiB est.    4.13 GiB RSS
///     train --task cnn --meta-batch 8 --block-size 1 --iterations 2   0.703 GiB est.   0.674 GiB RSS
///     train --task cnn --meta-batch 32 --block-size 1 --iterations 2  2.62 GiB est.    2.45 GiB RSS
///     evaluate generalist.json --task rosenbrock --dimension 1e7
///       --functions 2 --tuning-functions 1 --baselines adam     9.94 GiB est.    9.75 GiB RSS
///     evaluate quadratic.json --task quadratic --dimension 2048
///       --functions 4 --tuning-functions 2 --baselines none     0.51 GiB est.    0.40 GiB RSS
///     evaluate quadratic.json (defaults)                         0.067 GiB est.   0.024 GiB RSS
///
/// Before tile padding was counted, the unroll-16384 run was estimated at 0.01 GiB, and the
/// quadratic's W (n² Doubles per function, 8 n² more in its batch) was not counted at all.
enum MemoryEstimate {
    /// The process itself besides what the estimates count: code, MPI's and OpenBLAS's buffers
    /// (a default quadratic run peaks at 77 MB with 41 MB estimated).
    static let processBytes = 64 << 20

    /// A message when `needed` (nil: beyond Int, i.e. beyond every machine) and the process's own
    /// `processBytes` exceed `limit`.
    /// `limitSource`: why the limit is what it is, when not the machine's or cgroup's memory.
    static func problem(needed: Int?, limit: Int, limitSource: String? = nil, what: String, perRank: Bool = true) -> String? {
        guard let needed = needed.flatMap({ SizeLimits.sum($0, processBytes) }) else {
            return "\(what) would need more memory than any machine has"
        }
        guard needed > limit else { return nil }
        return "\(what) would need about \(gibibytes(needed))\(perRank ? " per rank" : ""), more than the \(gibibytes(limit)) available"
            + " (\(limitSource.map { $0 + "; " } ?? "")--max-memory sets the limit)"
    }

    /// The memory one rank holds to meta-train `config`, whose functions have `coordinates`
    /// coordinates, on `ranks` ranks (`TrainingConfig.estimatedRankBytes`); nil when the sizes
    /// cannot be known without a data set that is not there.
    static func trainingProblem(_ config: TrainingConfig, coordinates: Int, ranks: Int, shards: Int = 1, limit: Int,
                                limitSource: String? = nil) -> String? {
        guard let needed = try? config.estimatedRankBytes(coordinates: coordinates, ranks: ranks, shards: shards) else { return nil }
        // The rank's engines: one per block its group owns (the blocks of the meta-batch dealt to
        // the groups of --shards ranks).
        let blocks = config.mostBlocksPerRank(ranks: ranks, shards: shards)
        let owners = shards > 1 ? "each of \(ranks / shards) group(s) of \(shards) ranks" : ranks == 1 ? "one rank" : "each of \(ranks) ranks"
        let engines = blocks == 1 ? "1 block" : "\(blocks) blocks of the meta-batch \(config.metaBatch) on \(owners)"
        guard let message = problem(needed: needed, limit: limit, limitSource: limitSource,
                                    what: "meta-training \(coordinates) coordinates × block size \(config.functionsPerBlock) × \(engines), unroll \(config.unroll),")
        else { return nil }
        // The validation functions count too: named when they are a good part of it, so that the
        // user shrinks the right thing.
        var unvalidated = config
        unvalidated.validation = nil
        if let validation = config.validation,
           let without = try? unvalidated.estimatedRankBytes(coordinates: coordinates, ranks: ranks, shards: shards),
           needed - without > needed / 10 {
            return message + "; about \(gibibytes(needed - without)) of it for the \(validation.functions) validation functions (--validation-functions)"
        }
        return message
    }

    /// The memory `evaluate` holds: all held-out and tuning functions (sampled up front), the
    /// learned optimizer's largest batch (its functions' batch copy and a forward-only engine with
    /// its state, `LearnedOptimizer.maxCoordinatesPerBatch`), a baseline's θ, ∇f and two moments for one
    /// function, and the loss curves (every function × steps + 1, Doubles, for five optimizers
    /// and each learning rate of the grid), the making of its files for `optimizers` optimizers
    /// (`evaluationOutputBytes`) and `traceRows` rows of `--layer-trace`. Nil: more than Int
    /// (more than any machine).
    static func evaluationBytes(task: TaskSpec, coordinates: Int, optimizer: LearnedOptimizerConfig, functions: Int,
                                tuningFunctions: Int, steps: Int, optimizers: Int, traceRows: Int) throws -> Int? {
        let perBatch = min(max(LearnedOptimizer.defaultMaxCoordinatesPerBatch / max(coordinates, 1), 1), functions)
        guard let held = try task.estimatedBytes(functions: functions + tuningFunctions, batched: false),
              let batch = task.settings.estimatedBatchBytes(functions: perBatch),
              let columns = SizeLimits.product(perBatch, coordinates),
              let engine = optimizer.estimatedEngineBytes(columns: columns, unroll: nil),
              let baseline = SizeLimits.product(4, coordinates, 4),
              let curves = SizeLimits.product(functions + tuningFunctions * LearningRateSearch.defaultGrid.count, steps + 1, 5, 8) else {
            return nil
        }
        guard let outputs = evaluationOutputBytes(functions: functions, steps: steps, optimizers: optimizers),
              let trace = SizeLimits.product(traceRows, traceRowBytes) else { return nil }
        return SizeLimits.sum(held, max(SizeLimits.sum(batch, engine) ?? .max, baseline), curves, outputs, trace)
    }

    /// What making evaluate's files takes on top of the curves, for `optimizers` optimizers (the
    /// learned one and the baselines): report.json's encoder holds every loss as text and more
    /// (32 bytes a loss, 600 a function and optimizer), statistics.csv a row per step and
    /// optimizer with its statistics (100 bytes); the files are made one at a time, so these
    /// overlap only in part, and the sum is the safe side. Fitted to the peak RSS of quadratic
    /// evaluations (`/usr/bin/time -v metaopt-dist evaluate --optimizer optimizers/quadratic.json`)
    /// against the estimate without this term, which they exceeded by up to 2.4× (a run under a
    /// memory limit passed the check and trapped in the last allocation, its results lost); the
    /// RSS is with the files made one at a time:
    ///
    ///     --steps 80000  --functions 1 --tuning-functions 1   est. 0.145 GiB   RSS 0.104 GiB
    ///     --steps 131072 --functions 1 --tuning-functions 1   est. 0.197 GiB   RSS 0.171 GiB
    ///     --steps 262144 --functions 1 --tuning-functions 1   est. 0.332 GiB   RSS 0.292 GiB
    ///     --steps 8192   (100 functions)                      est. 0.282 GiB   RSS 0.195 GiB
    ///     --steps 32768  (100 functions)                      est. 0.934 GiB   RSS 0.712 GiB
    ///     --steps 65536 --functions 20 --tuning-functions 1   est. 0.362 GiB   RSS 0.332 GiB
    ///     --steps 1 --functions 1048576 --baselines none      est. 1.85 GiB    RSS 1.67 GiB
    static func evaluationOutputBytes(functions: Int, steps: Int, optimizers: Int) -> Int? {
        guard let rows = SizeLimits.product(steps + 1, optimizers), let losses = SizeLimits.product(functions, rows),
              let perLoss = SizeLimits.product(losses, 32), let perRow = SizeLimits.product(rows, 100),
              let perFunction = SizeLimits.product(functions, optimizers, 600) else { return nil }
        return SizeLimits.sum(perLoss, perRow, perFunction)
    }

    /// `--layer-trace`'s memory per row (one a step, optimizer and tensor): the row itself (56
    /// bytes), its line of layer-trace.csv (up to about 100) as text and as the file's bytes.
    static let traceRowBytes = 300

    static func gibibytes(_ bytes: Int) -> String {
        String(format: "%.3g GiB", Double(bytes) / 1_073_741_824)
    }
}
