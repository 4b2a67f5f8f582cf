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
    guard let value = arguments.popFirst() else { fatalError("\(option) needs a value") }
    switch option {
    case "--meta-steps": metaSteps = Int(value) ?? { fatalError("--meta-steps takes a number") }()
    case "--output": output = value
    default: fatalError("unknown option \(option); options: --meta-steps N, --output FILE")
    }
}

// The learned optimizer and the run. `task` is only recorded: the trainer samples `family`.
let family = LogisticRegressionFamily(features: 20, examples: 100)
let optimizerConfig = LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
let config = TrainingConfig(task: .quadratic(dimension: 10), optimizer: optimizerConfig, metaBatch: 16, blockSize: 8,
                            unroll: 10, horizon: 100, iterations: metaSteps, learningRate: 3e-3, seed: 1)
let trainer = try MetaTrainer(config: config, family: family, communicator: LocalCommunicator())
let untrainedPhi = trainer.state.phi
var metaLosses: [Double] = []
while !trainer.finished { metaLosses.append(try trainer.step().meanStepLoss) }
print("mean loss per unrolled step, every 10th meta-step:",
      stride(from: 0, to: metaLosses.count, by: 10).map { String(format: "%.4f", metaLosses[$0]) }.joined(separator: " "))

// Held-out problems (another seed), 100 steps of the trained and of the untrained optimizer.
let heldOut: [any Optimizee] = (0..<20).map { family.sample(RandomKey(seed: 99, horizon: 0, task: $0)) }
func meanLoss(_ phi: [Float], atStep t: Int) throws -> Double {
    let curves = try LearnedOptimizer(config: optimizerConfig, phi: phi).run(on: heldOut, steps: 100)
    return curves.map { Double($0[t]) }.reduce(0, +) / Double(curves.count)
}
let start = try meanLoss(untrainedPhi, atStep: 0)
let trained = try meanLoss(trainer.state.phi, atStep: 100), untrained = try meanLoss(untrainedPhi, atStep: 100)
print(String(format: "held-out problems: mean loss %.4f at the start, after 100 steps %.4f trained, %.4f untrained",
             start, trained, untrained))

// No `training` section: its task would name the recorded quadratic, not this family.
try OptimizerFile(optimizer: optimizerConfig, phi: trainer.state.phi, training: nil, iteration: trainer.state.iteration,
                  kernels: trainer.kernelPath.rawValue)
    .write(to: URL(fileURLWithPath: output))
print("wrote \(output) (\(metaSteps) meta-steps)")
if !(trained < untrained) {
    print("train-own-optimizee: the trained optimizer is no better than the untrained one")
    exit(1)
}
