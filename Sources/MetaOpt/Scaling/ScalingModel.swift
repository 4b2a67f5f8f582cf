import Foundation

/// A model of the time per meta-step of distributed meta-training on R = G × S ranks: G groups
/// that share the meta-batch's blocks as ranks do without sharding, each of S shards that split
/// every function's coordinates (docs/scaling.md, "The model"). With the slowest group owning
/// b = ⌈blocks / G⌉ blocks of k functions of n coordinates (block coordinates N = k·n), unroll T,
/// and the largest shard holding c of a block's N coordinates in u of its U = ⌈N / 256⌉ units:
///
///     compute   = b · T · (k · t_f + c · t_c) · (1 + σ·√(2 ln R))      every shard repeats t_f
///     encode    = b · u · |φ| · t_e                                     one fixed-point partial per (block, unit)
///     allgather = b · T · [⌈log₂ S⌉·α + (S − 1)/S · 4N·β]               θ_{t+1} inside the group, every step
///     allreduce = ⌈log₂ R⌉·α                                            MAX of 6 doubles (exponent, flags, stop)
///               + 2⌈log₂ R⌉·α + 2(R − 1)/R · m·β + (R − 1)/R · m·γ       SUM of m = 8(|φ| + 2) bytes (Rabenseifner)
///     fixed     = t_u                                                   Adam, decoding, bookkeeping: every rank
///
///     E(G, S) = T(1, 1) / (R · T(G, S))
///
/// t_f is the optimizee's f and ∇f of a whole function per unrolled step (every shard needs the
/// full θ_t, so sharding cannot divide it: Amdahl's serial part), t_c the rest per coordinate and
/// step (preprocessing, LSTM forward and backward, θ update, adjoint). The allgather term is
/// recursive doubling's latency with the bandwidth term every algorithm needs; the SUM allreduce
/// is Rabenseifner's reduce-scatter + allgather. Collectives inside a node are charged at the
/// network's α and β (pessimistic). σ·√(2 ln R) is the expected maximum of R normal deviations of
/// relative size σ: the MAX allreduce waits for the slowest rank.
package struct ScalingModel: Sendable {
    /// α, β, γ of a network: seconds per message stage, per byte moved, per byte reduced.
    package struct Network: Sendable, Equatable {
        package var name: String
        package var alpha: Double
        package var beta: Double
        package var gamma: Double

        package init(name: String, alpha: Double, beta: Double, gamma: Double = 0.05e-9) {
            self.name = name
            self.alpha = alpha
            self.beta = beta
            self.gamma = gamma
        }

        /// Assumed, not measured: 25 Gb/s Ethernet with MPI over TCP. α = 20 µs per message stage
        /// (kernel TCP stacks give 10–30 µs MPI latency); β = 0.36 ns/B (2.8 GB/s, 90 % of the
        /// 3.125 GB/s line rate).
        package static let ethernet25G = Network(name: "25 GbE (TCP)", alpha: 20e-6, beta: 0.36e-9)
        /// Assumed, not measured: HDR InfiniBand, 200 Gb/s. α = 1.5 µs per message stage (MPI
        /// ping-pong latencies of about 1 µs, plus the collective's software); β = 0.045 ns/B
        /// (22 GB/s of the 25 GB/s line rate).
        package static let infinibandHDR = Network(name: "InfiniBand HDR 200 Gb/s", alpha: 1.5e-6, beta: 0.045e-9)
    }

    /// Measured compute constants (seconds) of one rank.
    package struct Compute: Sendable, Equatable {
        /// t_f: the optimizee's f and ∇f of one whole function, per unrolled step.
        package var optimizeePerFunctionStep: Double
        /// t_c: everything else, per coordinate and unrolled step.
        package var perCoordinateStep: Double
        /// t_e: fixed-point encoding of one meta-gradient value into the sum.
        package var encodePerValue: Double
        /// t_u: per meta-step on every rank (Adam, decoding, bookkeeping).
        package var perMetaStep: Double
        /// σ: relative per-step noise of a rank's compute time.
        package var noise: Double

        package init(optimizeePerFunctionStep: Double, perCoordinateStep: Double, encodePerValue: Double,
                     perMetaStep: Double, noise: Double) {
            self.optimizeePerFunctionStep = optimizeePerFunctionStep
            self.perCoordinateStep = perCoordinateStep
            self.encodePerValue = encodePerValue
            self.perMetaStep = perMetaStep
            self.noise = noise
        }
    }

    /// t_f and t_c from one function's meta-iteration (`bench`): its time split in the proportion
    /// of the profiled optimizee phase to the profiled total (the phase timers add a little time of
    /// their own, so proportions, not raw phase times):
    ///     t_f = metaIteration · optimizee/profiled / T,   t_c = metaIteration · (1 − optimizee/profiled) / (N·T).
    package static func split(metaIteration: Double, optimizeePhase: Double, profiledTotal: Double,
                              coordinates: Int, unroll: Int) -> (optimizeePerFunctionStep: Double, perCoordinateStep: Double) {
        let fraction = optimizeePhase / profiledTotal
        return (metaIteration * fraction / Double(unroll),
                metaIteration * (1 - fraction) / (Double(coordinates) * Double(unroll)))
    }

    /// What one meta-step trains.
    package struct Workload: Sendable, Equatable {
        package var name: String
        /// n: coordinates of one function.
        package var coordinatesPerFunction: Int
        /// B: functions per meta-step.
        package var metaBatch: Int
        /// k: functions per block (the unit of work one engine computes).
        package var blockSize: Int
        /// T: unrolled steps per meta-step.
        package var unroll: Int
        /// |φ|: the learned optimizer's parameters.
        package var phiCount: Int

        package init(name: String, coordinatesPerFunction: Int, metaBatch: Int, blockSize: Int, unroll: Int, phiCount: Int) {
            self.name = name
            self.coordinatesPerFunction = coordinatesPerFunction
            self.metaBatch = metaBatch
            self.blockSize = blockSize
            self.unroll = unroll
            self.phiCount = phiCount
        }

        package var blocks: Int { (metaBatch + blockSize - 1) / blockSize }
        /// N: coordinates of one block's engine.
        package var blockCoordinates: Int { min(blockSize, metaBatch) * coordinatesPerFunction }
        package var units: Int { ShardSplit.units(coordinates: blockCoordinates) }
    }

    /// G groups × S shards.
    package struct Layout: Sendable, Equatable, CustomStringConvertible {
        package var groups: Int
        package var shards: Int
        package init(groups: Int, shards: Int) {
            precondition(groups >= 1 && shards >= 1)
            self.groups = groups
            self.shards = shards
        }
        package var ranks: Int { groups * shards }
        package var description: String { "\(groups)×\(shards)" }
    }

    /// The parts of one meta-step (seconds), as the formulas above.
    package struct StepTime: Sendable, Equatable {
        package var compute: Double
        package var encode: Double
        package var allgather: Double
        package var allreduce: Double
        package var fixed: Double
        package var total: Double { compute + encode + allgather + allreduce + fixed }
    }

    package var workload: Workload
    package var compute: Compute
    package var network: Network

    package init(workload: Workload, compute: Compute, network: Network) {
        self.workload = workload
        self.compute = compute
        self.network = network
    }

    /// ⌈log₂ x⌉ (0 for x = 1).
    static func ceilLog2(_ x: Int) -> Int { x <= 1 ? 0 : Int.bitWidth - (x - 1).leadingZeroBitCount }

    package func stepTime(_ layout: Layout) -> StepTime {
        let w = workload, c = compute, net = network
        let ranks = layout.ranks, shards = layout.shards
        let blocksPerGroup = Double((w.blocks + layout.groups - 1) / layout.groups)
        let functionsPerBlock = Double(min(w.blockSize, w.metaBatch))
        let n = w.blockCoordinates, t = Double(w.unroll)
        let shardCoordinates = Double(ShardSplit.counts(coordinates: n, shards: shards).max()!)
        let shardUnits = Double((w.units + shards - 1) / shards)
        let slowest = 1 + c.noise * (2 * Foundation.log(Double(ranks))).squareRoot()
        let computeTime = blocksPerGroup * t * (functionsPerBlock * c.optimizeePerFunctionStep
                                                + shardCoordinates * c.perCoordinateStep) * slowest
        let encode = blocksPerGroup * shardUnits * Double(w.phiCount) * c.encodePerValue
        let gather = shards == 1 ? 0 : blocksPerGroup * t * (Double(Self.ceilLog2(shards)) * net.alpha
                                                            + Double(shards - 1) / Double(shards) * 4 * Double(n) * net.beta)
        let stages = Double(Self.ceilLog2(ranks))
        let m = 8 * Double(w.phiCount + 2), share = Double(ranks - 1) / Double(ranks)
        let reduce = stages * net.alpha + 2 * stages * net.alpha + 2 * share * m * net.beta + share * m * net.gamma
        return StepTime(compute: computeTime, encode: encode, allgather: gather, allreduce: reduce, fixed: c.perMetaStep)
    }

    /// T(1, 1) / (R · T(G, S)).
    package func efficiency(_ layout: Layout) -> Double {
        stepTime(Layout(groups: 1, shards: 1)).total / (Double(layout.ranks) * stepTime(layout).total)
    }

    /// The layouts of `ranks` ranks, by shards: every S that divides R. Groups beyond the blocks
    /// and shards beyond the units are allowed and idle (the model charges them nothing but they
    /// count in R).
    package func layouts(ranks: Int) -> [Layout] {
        (1...ranks).filter { ranks % $0 == 0 }.map { Layout(groups: ranks / $0, shards: $0) }
    }

    /// The fastest layout of `ranks` ranks (fewer shards on a tie); nil when none fits.
    package func bestLayout(ranks: Int) -> Layout? {
        layouts(ranks: ranks).min { stepTime($0).total < stepTime($1).total }
    }

    /// The first validation iteration whose mean final loss is at or below `target` (the meta-steps
    /// a run needs to reach it; φ, and so this count, is the same for every R, G and S).
    package static func metaStepsToTarget(_ validation: [TrainingLog.Validation], target: Double) -> Int? {
        validation.sorted { $0.iteration < $1.iteration }
            .first { ($0.meanFinalLoss ?? .infinity) <= target }?.iteration
    }
}
