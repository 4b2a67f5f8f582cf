import Foundation
import MetaOpt

/// A trainer that meta-trains a learned optimizer on `LogisticRegressionFamily` for `metaSteps`
/// meta-steps (call `step()` until `finished`): two LSTM layers of 20, log-sign preprocessing
/// (p = 10), output scale 0.1, 16 functions per meta-step, truncations of 10 steps over horizons
/// of 100, Adam with learning rate 3e-3 on φ, seed 1.
public func makeLogisticOptimizerTrainer(metaSteps: Int) throws -> MetaTrainer {
    // `task` is only recorded: the trainer samples `family`.
    let family = LogisticRegressionFamily(features: 20, examples: 100)
    let optimizerConfig = LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
    let config = TrainingConfig(task: .quadratic(dimension: 10), optimizer: optimizerConfig, metaBatch: 16, blockSize: 8,
                                unroll: 10, horizon: 100, iterations: metaSteps, learningRate: 3e-3, seed: 1)
    let trainer = try MetaTrainer(config: config, family: family, communicator: LocalCommunicator())
    return trainer
}

/// Ends an example program with `message` on standard error and `status` (64: a bad option, as
/// metaopt-dist's; 1: a file that cannot be read or written), not with a trap and a stack dump.
public func exitWithMessage(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("\(CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent } ?? "example"): \(message)\n".utf8))
    exit(status)
}
