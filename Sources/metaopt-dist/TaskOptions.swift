import ArgumentParser
import Foundation
import MetaOpt

extension MetaGradientMode: ExpressibleByArgument {}
extension DatasetSplit: ExpressibleByArgument {}

extension Activation: ExpressibleByArgument {}
extension ImageTaskSpec.Dataset: ExpressibleByArgument {}

/// A `--task` value: the name of a registered family (`TaskRegistry`).
struct TaskName: ExpressibleByArgument {
    var name: String
    init?(argument: String) {
        guard TaskRegistry.plugin(named: argument) != nil else { return nil }
        name = argument
    }
    static var allValueStrings: [String] { TaskRegistry.names }
}

/// Which optimizee family, shared by `train` and `evaluate`. Each option's help names the families
/// that read it (`TaskPlugin.options`).
struct TaskOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Optimizee family (train: default quadratic; evaluate: default the optimizer file's task as trained; the task options below need --task there and start from their own defaults, not the file's, except --data-dir, which alone reads the file's own task's data from another directory).",
                               valueName: TaskSpec.names.joined(separator: "|")))
    var task: TaskName?

    @Option(help: "\(TaskOptions.usedBy("dimension")): dimension n of θ (the paper's quadratics: 10).")
    var dimension = 10

    @Option(help: ArgumentHelp("\(TaskOptions.usedBy("hidden-layers")): hidden layer widths, comma-separated (the paper: 20; variants 40 and 20,20).", valueName: "widths"))
    var hiddenLayers = "20"

    @Option(help: ArgumentHelp("\(TaskOptions.usedBy("activation")): hidden activation.", valueName: "sigmoid|relu"))
    var activation = Activation.sigmoid

    @Option(help: ArgumentHelp("\(TaskOptions.usedBy("conv-channels")): channels of the 3×3 convolution layers (each followed by ReLU and 2×2 max-pooling).", valueName: "channels"))
    var convChannels = "8,8,8"

    @Option(help: ArgumentHelp("\(TaskOptions.usedBy("fc-layers")): widths of the fully connected hidden layers (the paper: 32).", valueName: "widths"))
    var fcLayers = "32"

    @Option(help: ArgumentHelp("\(TaskOptions.usedBy("dataset")): image data set (MNIST and CIFAR-10 need --data-dir).", valueName: "fashion-mnist|mnist|cifar10"))
    var dataset = ImageTaskSpec.Dataset.fashionMNIST

    @Option(help: "\(TaskOptions.usedBy("data-dir")): directory with the data set's files (default for Fashion-MNIST: /usr/share/datasets/fashion-mnist).")
    var dataDir: String?

    @Option(help: ArgumentHelp("\(TaskOptions.usedBy("labels")): use only these classes, comma-separated (the paper's LSTM-sub).", valueName: "labels"))
    var labels: String?

    @Option(help: "\(TaskOptions.usedBy("minibatch")): minibatch size.")
    var minibatch = 128

    @Option(help: ArgumentHelp("\(TaskOptions.usedBy("mixture")): the components, separated by ';', each [WEIGHT*]FAMILY [OPTION=VALUE ...] with the family's task options, which start from this command line's, e.g. \"quadratic; mlp; mlp activation=relu; 2*cnn\" (docs/usage.md, \"Mixtures\").",
                               valueName: "components"))
    var mixture: String?

    /// "mlp, cnn": the families that read `option`, for its help.
    private static func usedBy(_ option: String) -> String { TaskRegistry.names(using: option).joined(separator: ", ") }

    func validate() throws {
        if let problem = try spec().problems().first { throw ValidationError(problem) }
    }

    /// The task these options name (`fallback` when --task is not given).
    func spec(fallback: String = "quadratic") throws -> TaskSpec {
        try spec(family: task?.name ?? fallback, mixture: mixture)
    }

    /// The `family` task of these options' values (a mixture's component before its own pairs).
    func spec(family: String, mixture: String? = nil) throws -> TaskSpec {
        do {
            let arguments = TaskArguments(
                dimension: dimension, hiddenLayers: hiddenLayers, activation: activation, convChannels: convChannels,
                fcLayers: fcLayers, dataset: dataset, dataDirectory: dataDir,
                labels: try labels.map { try TaskArguments.integers($0, "--labels") }, minibatch: minibatch,
                mixture: mixture)
            return try TaskSpec.parse(name: family, arguments: arguments)
        } catch let error as TaskArgumentError {
            throw ValidationError(error.description)
        }
    }
}

/// The learned optimizer's architecture; unset values take the task's paper defaults.
struct ArchitectureOptions: ParsableArguments {
    @Option(help: "Hidden units of each of the two LSTM layers (the paper's architecture; --hidden-sizes sets another depth).")
    var hiddenSize = 20

    @Option(help: ArgumentHelp("Hidden units per LSTM layer, first to last, comma-separated: any number of layers ≥ 1 (\"20,20\" is the default two layers of 20). Give it or --hidden-size, not both; either replaces the other's value from a recipe or run file.",
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

    /// The LSTM's input, as `--preprocessing` names it.
    enum Preprocessing: String, CaseIterable, ExpressibleByArgument {
        case raw
        case logSign = "log-sign"
    }

    @Option(help: ArgumentHelp("LSTM input: the raw gradient, or the paper's Appendix-A log/sign preprocessing (default: \(TaskRegistry.describeDefaults { $0.optimizer.preprocessing == .raw ? "raw" : "log-sign" })).",
                               valueName: "raw|log-sign"))
    var preprocessing: Preprocessing?

    @Option(name: .customLong("p"), help: "The preprocessing constant p (the paper: 10; the authors' released code: 5 for MNIST, which trains the MLP much better here; 20, which makes the learned step depend less on the gradient's size and generalises to deeper MLPs; docs/results.md).")
    var preprocessingConstant = 10.0

    @Option(help: "Factor on the LSTM's output (default: \(TaskRegistry.describeDefaults { shortNumber($0.optimizer.outputScale) }); quadratics and image tasks as in the paper; the authors' released code: 0.01 with --p 5).")
    var outputScale: Double?

    func validate() throws {
        // Both on one command line: --hidden-size would be ignored without a word.
        if OptionScope.givenOnCommandLine.isSuperset(of: ["hidden-size", "hidden-sizes"]) {
            throw ValidationError("--hidden-size and --hidden-sizes both set the LSTM's sizes; give one of them (--hidden-size H is --hidden-sizes H,H)")
        }
        guard hiddenSize > 0 else { throw ValidationError("--hidden-size must be positive") }
        _ = try layerSizes()
        // The engines compute in Float: a value past its range would become infinity there.
        for (option, value) in [("--p", preprocessingConstant), ("--output-scale", outputScale)] {
            guard let value else { continue }
            guard value > 0 && value.isFinite else { throw ValidationError("\(option) must be positive and finite (got \(value))") }
            if let problem = SizeLimits.floatRangeProblem(option, value) ?? SizeLimits.underflowProblem(option, value) {
                throw ValidationError(problem)
            }
        }
    }

    func config(for task: TaskSpec) -> LearnedOptimizerConfig {
        var c = task.defaultOptimizer
        // Checked in validate().
        c.hiddenSizes = (try? layerSizes()) ?? [hiddenSize, hiddenSize]
        switch preprocessing {
        case .raw: c.preprocessing = .raw
        case .logSign: c.preprocessing = .logAndSign(p: preprocessingConstant)
        case nil:
            if case .logAndSign = c.preprocessing { c.preprocessing = .logAndSign(p: preprocessingConstant) }
        }
        if let s = outputScale { c.outputScale = s }
        return c
    }
}

/// A number as help texts print it: "1", "0.1", "0.003".
func shortNumber(_ x: Double) -> String { String(format: "%g", x) }
