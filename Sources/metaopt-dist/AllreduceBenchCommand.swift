import ArgumentParser
import Foundation
import MetaOpt
import MetaOptMPI

/// Hidden micro-benchmark of the collectives of a meta-step (docs/design.md, "Distribution";
/// docs/scaling.md): the MAX allreduce of the meta-step's 6 doubles, the SUM allreduce of |φ| + 2 Int64 values
/// and, for coordinate sharding, the per-step `allgather` of θ inside a group of ranks. Size
/// sweeps of both give the latency α and the seconds per byte β of `ScalingModel`. Used by
/// launch/scaling.sh and launch/comm-cost.sh.
///
/// Each repetition starts after a barrier; a repetition's time is the slowest rank's (one MAX
/// allreduce of the per-rank times, outside the timed region). Rank 0 prints one line per
/// collective and size, then one fit line per collective (least squares over the sizes):
///
///     ALLREDUCE np=4 op=sum type=int64 count=5063 bytes=40504 reps=200 median_us=… p10_us=… p90_us=… min_us=…
///     ALLGATHER np=2 type=float count=15910 bytes=63640 split=7936,7974 reps=200 median_us=… …
///     FIT np=2 collective=allgather points=9 alpha_us=… beta_ns_per_byte=… bandwidth_gb_per_s=…
///
/// An allgather's `count` is the total number of floats every rank receives (a function's N
/// coordinates), split over the ranks as sharding splits them: in column tiles of 256 coordinates,
/// contiguous runs of tiles per rank (`ShardSplit`); `bytes` is 4·count. The fit of the SUM
/// allreduce uses its buffer's bytes. Rank 0 also times, alone, the fixed-point encoding of
/// |φ| Float values into an Int64 sum (`ENCODE` line): the per-(block, unit) cost of the
/// sharded meta-gradient.
struct AllreduceBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce-bench",
        abstract: "Time the meta-step's allreduces and the sharded step's allgather (for launch/scaling.sh).",
        shouldDisplay: false)

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var architecture: ArchitectureOptions

    @Option(help: "Int64 values in a SUM allreduce (repeatable); |φ| + 2 of the quadratic task's learned optimizer is always measured.")
    var count: [Int] = []

    @Option(help: "Floats gathered by an allgather (repeatable; a function's coordinates, split over the ranks in tiles of 256); the quadratic meta-batch's 1,280 and the MLP's 15,910 are always measured.")
    var gatherCount: [Int] = []

    @Flag(help: "Skip the allgather measurements (the figures launch/scaling.sh has always taken).")
    var noAllgather = false

    @Option(help: "Timed repetitions per collective.")
    var repetitions = 200

    @Option(help: "Untimed repetitions first.")
    var warmup = 20

    /// Coordinates of the workloads sharding is for: B = 128 ten-dimensional quadratics in one
    /// engine, and the 784-20-10 MLP.
    static let standardGatherCounts = [1_280, 15_910]

    /// The most values of one buffer: 2^27, 1 GiB of --count's 64-bit integers.
    static let mostValues = 1 << 27

    func validate() throws {
        for c in count where c < 1 { throw ValidationError("--count must be at least 1, got \(c)") }
        for c in gatherCount where c < 1 { throw ValidationError("--gather-count must be at least 1, got \(c)") }
        // Buffers of at most 1 GiB (--count's are 8 bytes a value): larger ones died in the
        // allocation or with a segmentation fault after part of the output.
        for (name, values) in [("--count", count), ("--gather-count", gatherCount)] {
            if let problem = values.max().flatMap({ SizeLimits.problem("a \(name) value", $0, limit: Self.mostValues) }) {
                throw ValidationError(problem)
            }
        }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative, got \(warmup)") }
        // A million each (past it a count overflowed into a corrupt allocation), and φ of an
        // architecture train would take (a hidden size of 10⁵ asked for 960 GB).
        for (name, value) in [("--repetitions", repetitions), ("--warmup", warmup)] {
            if let problem = SizeLimits.problem(name, value, limit: 1_000_000) { throw ValidationError(problem) }
        }
        if let problem = architecture.config(for: .quadratic(dimension: 10)).problems().first { throw ValidationError(problem) }
    }

    func run() throws {
        let phiCount = architecture.config(for: .quadratic(dimension: 10)).architecture.parameterCount
        let counts = Array(Set(count + [phiCount + 2])).sorted()
        let gatherCounts = noAllgather ? [] : Array(Set(gatherCount + Self.standardGatherCounts)).sorted()
        withCommunicator(runOptions) { comm in
            let summaryCount = MetaTrainer.stepSummaryCount
            var summary = [Double](repeating: Double(comm.rank), count: summaryCount)
            try measure(comm, label: "ALLREDUCE", "op=max type=double count=\(summaryCount) bytes=\(8 * summaryCount)") {
                try comm.allreduce(&summary, .max)
            }
            var allreducePoints: [(bytes: Double, seconds: Double)] = []
            for n in counts {
                var sums = [Int64](repeating: Int64(comm.rank), count: n)
                let t = try measure(comm, label: "ALLREDUCE", "op=sum type=int64 count=\(n) bytes=\(8 * n)") {
                    try comm.allreduce(&sums, .sum)
                }
                allreducePoints.append((Double(8 * n), t))
            }
            var gatherPoints: [(bytes: Double, seconds: Double)] = []
            for n in gatherCounts {
                let split = ShardSplit.counts(coordinates: n, shards: comm.size)
                let send = [Float](repeating: Float(comm.rank), count: split[comm.rank])
                var receive = [Float](repeating: 0, count: n)
                let label = "type=float count=\(n) bytes=\(4 * n) split=\(split.map(String.init).joined(separator: ","))"
                let t = try measure(comm, label: "ALLGATHER", label) {
                    try send.withUnsafeBufferPointer { s in
                        try receive.withUnsafeMutableBufferPointer { try comm.allgather(s, into: $0, counts: split) }
                    }
                }
                gatherPoints.append((Double(4 * n), t))
            }
            guard comm.isRoot else { return }
            printFit(np: comm.size, collective: "allreduce-sum", allreducePoints)
            printFit(np: comm.size, collective: "allgather", gatherPoints)
            printEncodingCost(values: phiCount)
        }
    }

    /// Times `body` and returns the median seconds (the slowest rank's per repetition).
    @discardableResult
    private func measure(_ comm: MPICommunicator, label: String, _ details: String, _ body: () throws -> Void) throws -> Double {
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        times.reserveCapacity(repetitions)
        for _ in 0..<repetitions {
            try comm.barrier()
            let start = DispatchTime.now()
            try body()
            var t = [Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e3]
            try comm.allreduce(&t, .max)
            times.append(t[0])
        }
        times.sort()
        func quantile(_ q: Double) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * q).rounded()))] }
        if comm.isRoot {
            print(String(format: "%@ np=%d %@ reps=%d median_us=%.2f p10_us=%.2f p90_us=%.2f min_us=%.2f",
                         label, comm.size, details, repetitions, quantile(0.5), quantile(0.1), quantile(0.9), times[0]))
            fflush(nil)
        }
        return quantile(0.5) * 1e-6
    }

    private func printFit(np: Int, collective: String, _ points: [(bytes: Double, seconds: Double)]) {
        guard let fit = LatencyBandwidthFit.fit(points) else { return }
        print(String(format: "FIT np=%d collective=%@ points=%d alpha_us=%.3f beta_ns_per_byte=%.5f bandwidth_gb_per_s=%.3f",
                     np, collective, fit.points, fit.alpha * 1e6, fit.beta * 1e9, fit.beta > 0 ? 1e-9 / fit.beta : .nan))
        fflush(nil)
    }

    /// Rank 0 alone: nanoseconds per value to encode a Float gradient in fixed point and add it to
    /// an Int64 sum (what every (block, unit) partial of the sharded meta-gradient costs).
    private func printEncodingCost(values: Int) {
        let gradient = (0..<values).map { Float(sin(Double($0))) }
        var sum = [Int64](repeating: 0, count: values)
        let codec = FixedPointCodec(maxMagnitude: 1, terms: 1_024)
        var times: [Double] = []
        for r in 0..<(warmup + repetitions) {
            let start = DispatchTime.now()
            for i in 0..<values { sum[i] &+= codec.encode(gradient[i]) }
            if r >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds)) }
        }
        let checksum = sum.reduce(0, &+)  // keeps the loop from being optimised away
        print(String(format: "ENCODE values=%d reps=%d median_ns_per_value=%.3f checksum=%lld",
                     values, repetitions, times.sorted()[times.count / 2] / Double(values), checksum))
        fflush(nil)
    }
}
