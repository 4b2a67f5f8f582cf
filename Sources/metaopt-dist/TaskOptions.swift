import ArgumentParser
import MetaOpt

extension MetaGradientMode: ExpressibleByArgument {}

/// Which optimizee family, shared by `train` and `evaluate`.
struct TaskOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Optimizee family (train: default quadratic; evaluate: default the optimizer file's).",
                               valueName: TaskSpec.names.joined(separator: "|")))
    var task: String?

    @Option(help: "Quadratic task: dimension n of θ (the paper: 10).")
    var dimension = 10

    func validate() throws {
        if let problem = try spec().problems().first { throw ValidationError(problem) }
    }

    /// The task these options name (`fallback` when --task is not given).
    func spec(fallback: String = "quadratic") throws -> TaskSpec {
        let name = task ?? fallback
        switch name {
        case "quadratic": return .quadratic(dimension: dimension)
        default: throw ValidationError("unknown task '\(name)'; valid tasks: \(TaskSpec.names.joined(separator: ", "))")
        }
    }
}

/// The learned optimizer's architecture; unset values take the task's paper defaults.
struct ArchitectureOptions: ParsableArguments {
    @Option(help: "Hidden units per LSTM layer.")
    var hiddenSize = 20

    @Option(help: ArgumentHelp("LSTM input: the raw gradient, or the paper's Appendix-A log/sign preprocessing (default: raw for quadratics, log-sign for image tasks).",
                               valueName: "raw|log-sign"))
    var preprocessing: String?

    @Option(name: .customLong("p"), help: "The preprocessing constant p (the paper: 10).")
    var preprocessingConstant = 10.0

    @Option(help: "Factor on the LSTM's output (default: 1 for quadratics, 0.1 for image tasks, as in the paper).")
    var outputScale: Double?

    func validate() throws {
        if let p = preprocessing, !["raw", "log-sign"].contains(p) {
            throw ValidationError("unknown preprocessing '\(p)'; valid: raw, log-sign")
        }
        guard hiddenSize > 0 else { throw ValidationError("--hidden-size must be positive") }
        guard preprocessingConstant > 0 else { throw ValidationError("--p must be positive") }
        if let s = outputScale, !(s > 0) { throw ValidationError("--output-scale must be positive") }
    }

    func config(for task: TaskSpec) -> LearnedOptimizerConfig {
        var c = task.defaultOptimizer
        c.hiddenSize = hiddenSize
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
