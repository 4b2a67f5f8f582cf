// Minimises a logistic regression of this package with a trained learned optimizer, stepping the
// named tensors "weights" and "bias" like an optimizer of any training library, next to Adam, and
// prints both loss curves.
//
//   swift run -c release learned-vs-adam [--optimizer FILE] [--steps N] [--adam-learning-rate LR] [--help]
//
// The files of the repository's optimizers/ serve (optimizers/mlp-p5.json reaches Adam's loss).
// Without --optimizer it first meta-trains one on logistic regressions for 60 meta-steps (a few
// seconds; what train-own-optimizee does), so that it runs with nothing else. Exits 1 if the
// learned optimizer does not lower the loss.
import Foundation
import ExampleProblems
import MetaOpt

var optimizerPath: String? = nil
var steps = 100
var adamLearningRate: Float = 0.1
let usage = """
    usage: learned-vs-adam [--optimizer FILE] [--steps N] [--adam-learning-rate LR]
      --optimizer FILE          a trained optimizer file, e.g. optimizers/mlp-p5.json (default: none;
                                one is first meta-trained on logistic regressions for 60 meta-steps)
      --steps N                 steps of each optimizer (default \(steps))
      --adam-learning-rate LR   Adam's learning rate (default \(adamLearningRate))
      -h, --help                print this text
    Exits 1 if the learned optimizer does not lower the loss, 64 for a bad option.
    """
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    if option == "-h" || option == "--help" {
        print(usage)
        exit(0)
    }
    guard let value = arguments.popFirst() else { exitWithMessage("\(option) needs a value", status: 64) }
    switch option {
    case "--optimizer": optimizerPath = value
    case "--steps":
        guard let n = Int(value), n > 0 else { exitWithMessage("--steps takes a positive number (got \(value))", status: 64) }
        steps = n
    case "--adam-learning-rate":
        guard let lr = Float(value), lr > 0, lr.isFinite else {
            exitWithMessage("--adam-learning-rate takes a positive number (got \(value))", status: 64)
        }
        adamLearningRate = lr
    default: exitWithMessage("unknown option \(option); options: --optimizer FILE, --steps N, --adam-learning-rate LR, --help", status: 64)
    }
}

do {
    // 1. Load a trained optimizer.
    let optimizer: LearnedOptimizer
    if let optimizerPath {
        do {
            optimizer = LearnedOptimizer(file: try OptimizerFile.read(from: URL(fileURLWithPath: optimizerPath)))
        } catch {
            exitWithMessage("\(error)", status: 1)
        }
        print("learned optimizer: \(optimizerPath) (\(optimizer.config.summary))")
    } else {
        print("no --optimizer: meta-training a logistic-regression optimizer for 60 meta-steps first")
        let trainer = try makeLogisticOptimizerTrainer(metaSteps: 60)
        while !trainer.finished { try trainer.step() }
        optimizer = LearnedOptimizer(config: trainer.config.optimizer, phi: trainer.state.phi)
    }

    // 2. A problem of our own, its parameters as named tensors.
    let problem = LogisticRegression(features: 20, examples: 100, key: RandomKey(seed: 2024, horizon: 0, task: 0))
    let start: [String: [Float]] = ["weights": [Float](repeating: 0, count: problem.features), "bias": [0]]

    // 3. The learned optimizer: one state per coordinate (zero LSTM h and c), then step in place.
    let stepper = try optimizer.makeStepper(for: problem.tensors)
    var parameters = start
    var learnedCurve: [Float] = []
    for _ in 0..<steps {
        let (loss, gradients) = problem.lossAndGradient(at: parameters)
        learnedCurve.append(loss)
        try stepper.step(parameters: &parameters, gradients: gradients)
    }
    learnedCurve.append(problem.lossAndGradient(at: parameters).loss)

    // 4. Adam from the same start, on the flat vector [weights, bias].
    var adam = Adam(learningRate: adamLearningRate)
    var theta = start["weights"]! + start["bias"]!
    var adamCurve: [Float] = []
    for _ in 0..<steps {
        let (loss, gradients) = problem.lossAndGradient(at: ["weights": Array(theta[..<problem.features]),
                                                            "bias": [theta[problem.features]]])
        adamCurve.append(loss)
        adam.step(theta: &theta, gradient: gradients["weights"]! + gradients["bias"]!)
    }
    adamCurve.append(problem.lossAndGradient(at: ["weights": Array(theta[..<problem.features]), "bias": [theta[problem.features]]]).loss)

    print("step  learned   adam(lr=\(adamLearningRate))")
    for t in stride(from: 0, through: steps, by: max(1, steps / 10)) {
        print(String(format: "%4d  %.5f   %.5f", t, learnedCurve[t], adamCurve[t]))
    }
    if !(learnedCurve.last!.isFinite && learnedCurve.last! < learnedCurve[0]) {
        print("learned-vs-adam: the learned optimizer did not lower the loss")
        exit(1)
    }
} catch {
    // An error the library throws (a kernel path this CPU lacks, METAOPT_KERNELS=bogus): its
    // message and status 1, not the trap and stack dump of a top-level `try`.
    exitWithMessage("\(error)", status: 1)
}
