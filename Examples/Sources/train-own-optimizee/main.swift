// Meta-trains a learned optimizer on an optimizee family of this package (logistic regression on
// generated data), checks it on problems it has not seen, and writes an ordinary optimizer file.
//
//   swift run -c release train-own-optimizee [--meta-steps N] [--output FILE]
//
// Exits 1 if the trained optimizer does not beat the untrained one on the held-out problems.
import Foundation
import ExampleProblems
import MetaOpt

var metaSteps = 60
var output = "logistic-optimizer.json"
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    guard let value = arguments.popFirst() else { exitWithMessage("\(option) needs a value", status: 64) }
    switch option {
    case "--meta-steps":
        guard let n = Int(value), n > 0 else { exitWithMessage("--meta-steps takes a positive number (got \(value))", status: 64) }
        metaSteps = n
    case "--output": output = value
    default: exitWithMessage("unknown option \(option); options: --meta-steps N, --output FILE", status: 64)
    }
}

// The run (ExampleProblems/LogisticOptimizerTraining.swift): the family and the settings.
let trainer = try makeLogisticOptimizerTrainer(metaSteps: metaSteps)
let optimizerConfig = trainer.config.optimizer
let untrainedPhi = trainer.state.phi
var metaLosses: [Double] = []
while !trainer.finished { metaLosses.append(try trainer.step().meanStepLoss) }
print("mean loss per unrolled step, every 10th meta-step:",
      stride(from: 0, to: metaLosses.count, by: 10).map { String(format: "%.4f", metaLosses[$0]) }.joined(separator: " "))

// Held-out problems (another seed), 100 steps of the trained and of the untrained optimizer.
let heldOut: [any Optimizee] = (0..<20).map { LogisticRegressionFamily(features: 20, examples: 100).sample(RandomKey(seed: 99, horizon: 0, task: $0)) }
let meanLoss = { (phi: [Float], t: Int) throws -> Double in
    let curves = try LearnedOptimizer(config: optimizerConfig, phi: phi).run(on: heldOut, steps: 100)
    return curves.map { Double($0[t]) }.reduce(0, +) / Double(curves.count)
}
let start = try meanLoss(untrainedPhi, 0)
let trained = try meanLoss(trainer.state.phi, 100), untrained = try meanLoss(untrainedPhi, 100)
print(String(format: "held-out problems: mean loss %.4f at the start, after 100 steps %.4f trained, %.4f untrained",
             start, trained, untrained))

// No `training` section: its task would name the recorded quadratic, not this family.
do {
    try OptimizerFile(optimizer: optimizerConfig, phi: trainer.state.phi, training: nil, iteration: trainer.state.iteration,
                      kernels: trainer.kernelPath.rawValue)
        .write(to: URL(fileURLWithPath: output))
} catch {
    exitWithMessage("\(error)", status: 1)
}
print("wrote \(output) (\(metaSteps) meta-steps)")
if !(trained < untrained) {
    print("train-own-optimizee: the trained optimizer is no better than the untrained one")
    exit(1)
}
