import Foundation
import MetaOpt

/// Refusing, before any work, a configuration whose estimated memory exceeds what one rank may
/// use (an allocation past the machine ends in a trap, rc 134, after minutes of start-up).
enum MemoryEstimate {
    /// The machine's memory in bytes.
    static func machineBytes() -> Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }

    /// A message when `needed` (nil: beyond Int, i.e. beyond every machine) exceeds `limit`.
    static func problem(needed: Int?, limit: Int, what: String, hint: String = " (--max-memory sets the limit)") -> String? {
        guard let needed else { return "\(what) would need more memory than any machine has" }
        guard needed > limit else { return nil }
        return "\(what) would need about \(gibibytes(needed)) per rank, more than the \(gibibytes(limit)) available\(hint)"
    }

    /// The engines' memory of meta-training `config` on `ranks` ranks (`TrainingConfig.estimatedEngineBytes`);
    /// nil when the coordinate count cannot be known without the data set.
    static func trainingProblem(_ config: TrainingConfig, ranks: Int, limit: Int) -> String? {
        guard let coordinates = try? config.task.dimension() else { return nil }
        // The rank's engines: one per block it owns (the blocks of the meta-batch dealt to the ranks).
        let blocks = (config.blockCount - 1) / max(ranks, 1) + 1
        let engines = blocks == 1 ? "1 block" : "\(blocks) blocks of the meta-batch \(config.metaBatch) on \(ranks == 1 ? "one rank" : "each of \(ranks) ranks")"
        return problem(needed: config.estimatedEngineBytes(coordinates: coordinates, ranks: ranks), limit: limit,
                       what: "meta-training \(coordinates) coordinates × block size \(config.blockSize) × \(engines), unroll \(config.unroll),")
    }

    static func gibibytes(_ bytes: Int) -> String {
        String(format: "%.3g GiB", Double(bytes) / 1_073_741_824)
    }
}
