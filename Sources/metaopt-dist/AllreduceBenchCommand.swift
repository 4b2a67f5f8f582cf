import ArgumentParser
import Foundation
import MetaOpt
import MetaOptMPI

/// Hidden micro-benchmark of the two collectives of a meta-step (docs/design.md, "Distribution"):
/// the MAX allreduce of 5 doubles and the SUM allreduce of |φ| + 2 Int64 values (or of other sizes, to fit latency and bandwidth). Used by
/// launch/scaling.sh for the communication figures of docs/scaling.md.
///
/// Each repetition starts after a barrier; a repetition's time is the slowest rank's (one MAX
/// allreduce of the per-rank times, outside the timed region). Rank 0 prints one line per
/// collective:
///
///     ALLREDUCE np=4 op=sum type=int64 count=5063 bytes=40504 reps=200 median_us=… p10_us=… p90_us=… min_us=…
struct AllreduceBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce-bench",
        abstract: "Time the meta-step's allreduces (for launch/scaling.sh).",
        shouldDisplay: false)

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var architecture: ArchitectureOptions

    @Option(help: "Int64 values in a SUM allreduce (repeatable); |φ| + 2 of the quadratic task's learned optimizer is always measured.")
    var count: [Int] = []

    @Option(help: "Timed repetitions per collective.")
    var repetitions = 200

    @Option(help: "Untimed repetitions first.")
    var warmup = 20

    func validate() throws {
        for c in count where c < 1 { throw ValidationError("--count must be at least 1, got \(c)") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative, got \(warmup)") }
    }

    func run() throws {
        let phiCount = architecture.config(for: .quadratic(dimension: 10)).architecture.parameterCount
        let counts = Array(Set(count + [phiCount + 2])).sorted()
        withCommunicator(runOptions) { comm in
            var summary = [Double](repeating: Double(comm.rank), count: 5)
            try measure(comm, label: "op=max type=double count=5 bytes=40") {
                try comm.allreduce(&summary, .max)
            }
            for n in counts {
                var sums = [Int64](repeating: Int64(comm.rank), count: n)
                try measure(comm, label: "op=sum type=int64 count=\(n) bytes=\(8 * n)") {
                    try comm.allreduce(&sums, .sum)
                }
            }
        }
    }

    private func measure(_ comm: MPICommunicator, label: String, _ body: () throws -> Void) throws {
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
        guard comm.isRoot else { return }
        times.sort()
        func quantile(_ q: Double) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * q).rounded()))] }
        print(String(format: "ALLREDUCE np=%d %@ reps=%d median_us=%.2f p10_us=%.2f p90_us=%.2f min_us=%.2f",
                     comm.size, label, repetitions, quantile(0.5), quantile(0.1), quantile(0.9), times[0]))
        fflush(nil)
    }
}
