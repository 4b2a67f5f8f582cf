import ArgumentParser
import MetaOpt

extension MetaGradientMode: ExpressibleByArgument {}
extension DatasetSplit: ExpressibleByArgument {}

/// Which optimizee family, shared by `train` and `evaluate`.
struct TaskOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Optimizee family (train: default quadratic; evaluate: default the optimizer file's).",
                               valueName: TaskSpec.names.joined(separator: "|")))
    var task: String?

    @Option(help: "Quadratic: dimension n of θ (the paper: 10).")
    var dimension = 10

    @Option(help: ArgumentHelp("MLP: hidden layer widths, comma-separated (the paper: 20; variants 40 and 20,20).", valueName: "widths"))
    var hiddenLayers = "20"

    @Option(help: ArgumentHelp("MLP: hidden activation.", valueName: "sigmoid|relu"))
    var activation = "sigmoid"

    @Option(help: ArgumentHelp("CNN: channels of the 3×3 convolution layers (each followed by ReLU and 2×2 max-pooling).", valueName: "channels"))
    var convChannels = "8,8,8"

    @Option(help: ArgumentHelp("CNN: widths of the fully connected hidden layers (the paper: 32).", valueName: "widths"))
    var fcLayers = "32"

    @Option(help: ArgumentHelp("Image data set (MNIST and CIFAR-10 need --data-dir).", valueName: "fashion-mnist|mnist|cifar10"))
    var dataset = "fashion-mnist"

    @Option(help: "Directory with the data set's files (default for Fashion-MNIST: /usr/share/datasets/fashion-mnist).")
    var dataDir: String?

    @Option(help: ArgumentHelp("Image tasks: use only these classes, comma-separated (the paper's LSTM-sub).", valueName: "labels"))
    var labels: String?

    @Option(help: "Image tasks: minibatch size.")
    var minibatch = 128

    func validate() throws {
        if let problem = try spec().problems().first { throw ValidationError(problem) }
    }

    private func integers(_ text: String, _ flag: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count else {
            throw ValidationError("\(flag) must be comma-separated whole numbers (got '\(text)')")
        }
        return values
    }

    /// The task these options name (`fallback` when --task is not given).
    func spec(fallback: String = "quadratic") throws -> TaskSpec {
        let name = task ?? fallback
        guard let set = ImageTaskSpec.Dataset(rawValue: dataset) else {
            throw ValidationError("unknown data set '\(dataset)'; valid: \(ImageTaskSpec.Dataset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let subset = try labels.map { try integers($0, "--labels") }
        switch name {
        case "quadratic":
            return .quadratic(dimension: dimension)
        case "mlp":
            guard let act = Activation(rawValue: activation) else {
                throw ValidationError("unknown activation '\(activation)'; valid: sigmoid, relu")
            }
            let arch = MLPArchitecture(hiddenSizes: try integers(hiddenLayers, "--hidden-layers"), activation: act)
            return .image(ImageTaskSpec(architecture: .mlp(arch), dataset: set, directory: dataDir,
                                        labelSubset: subset, batchSize: minibatch))
        case "cnn":
            let arch = CNNArchitecture(convolutionChannels: try integers(convChannels, "--conv-channels"),
                                       fullyConnectedSizes: try integers(fcLayers, "--fc-layers"))
            return .image(ImageTaskSpec(architecture: .cnn(arch), dataset: set, directory: dataDir,
                                        labelSubset: subset, batchSize: minibatch))
        default:
            throw ValidationError("unknown task '\(name)'; valid tasks: \(TaskSpec.names.joined(separator: ", "))")
        }
    }
}

/// The learned optimizer's architecture; unset values take the task's paper defaults.
struct ArchitectureOptions: ParsableArguments {
    @Option(help: "Hidden units of each of the two LSTM layers (the paper's architecture; --hidden-sizes sets another depth).")
    var hiddenSize = 20

    @Option(help: ArgumentHelp("Hidden units per LSTM layer, first to last, comma-separated: any number of layers ≥ 1 (\"20,20\" is the default two layers of 20). Takes precedence over --hidden-size.",
                               valueName: "h1,h2,..."))
    var hiddenSizes: String?

    /// The LSTM layers' sizes: --hidden-sizes, else two layers of --hidden-size.
    func layerSizes() throws -> [Int] {
        guard let text = hiddenSizes else { return [hiddenSize, hiddenSize] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count else {
            throw ValidationError("--hidden-sizes must be comma-separated whole numbers (got '\(text)')")
        }
        guard values.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--hidden-sizes must be positive (got '\(text)')")
        }
        return values
    }

    @Option(help: ArgumentHelp("LSTM input: the raw gradient, or the paper's Appendix-A log/sign preprocessing (default: raw for quadratics, log-sign for image tasks).",
                               valueName: "raw|log-sign"))
    var preprocessing: String?

    @Option(name: .customLong("p"), help: "The preprocessing constant p (the paper: 10; the authors' released code: 5 for MNIST, which trains the MLP much better here; 20, which makes the learned step depend less on the gradient's size and generalises to deeper MLPs; docs/results.md).")
    var preprocessingConstant = 10.0

    @Option(help: "Factor on the LSTM's output (default: 1 for quadratics, 0.1 for image tasks, as in the paper; the authors' released code: 0.01 with --p 5).")
    var outputScale: Double?

    func validate() throws {
        if let p = preprocessing, !["raw", "log-sign"].contains(p) {
            throw ValidationError("unknown preprocessing '\(p)'; valid: raw, log-sign")
        }
        guard hiddenSize > 0 else { throw ValidationError("--hidden-size must be positive") }
        _ = try layerSizes()
        guard preprocessingConstant > 0 else { throw ValidationError("--p must be positive") }
        if let s = outputScale, !(s > 0) { throw ValidationError("--output-scale must be positive") }
    }

    func config(for task: TaskSpec) -> LearnedOptimizerConfig {
        var c = task.defaultOptimizer
        // Checked in validate().
        c.hiddenSizes = (try? layerSizes()) ?? [hiddenSize, hiddenSize]
        switch preprocessing {
        case "raw": c.preprocessing = .raw
        case "log-sign": c.preprocessing = .logAndSign(p: preprocessingConstant)
        default:
            if case .logAndSign = c.preprocessing { c.preprocessing = .logAndSign(p: preprocessingConstant) }
        }
        if let s = outputScale { c.outputScale = s }
        return c
    }
}

import Foundation
