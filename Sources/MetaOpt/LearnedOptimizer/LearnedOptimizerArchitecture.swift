/// A kind of learned optimizer: how many values φ has, their names, their initialisation, and the
/// engines that run it. The trainer, `LearnedOptimizer` and the benchmark work through this and
/// `MetaGradientEngine` only, so another architecture (a GRU, say) is a new conforming type
/// beside `LSTMArchitecture`, not a change to them.
package protocol LearnedOptimizerArchitecture: Sendable {
    /// |φ|.
    var parameterCount: Int { get }
    /// φ as named tensors (optimizer files, `export`).
    var tensors: [ParameterLayout.Tensor] { get }
    /// The initial φ, drawn from `key`'s optimizer-initialisation stream (the same on every rank).
    func initialParameters(key: RandomKey) -> [Float]
    /// An engine for `tasks` with truncations of `unroll` steps (1 for forward-only runs).
    /// `kernelPath` nil: `KernelPath.default`; `tileWidth` nil: the engine's default.
    func makeEngine(tasks: [any Optimizee], unroll: Int, kernelPath: KernelPath?, tileWidth: Int?) -> any MetaGradientEngine<Float>
    /// An engine for forward-only runs and steps on given gradients (`run`, `step`): evaluation,
    /// validation and `LearnedOptimizerStepper`. It keeps no BPTT history (its truncations trap)
    /// and computes the same bits as `run` on an engine from `makeEngine`.
    func makeForwardEngine(tasks: [any Optimizee], kernelPath: KernelPath?, tileWidth: Int?) -> any MetaGradientEngine<Float>
}

extension LearnedOptimizerArchitecture {
    package func makeEngine(tasks: [any Optimizee], unroll: Int, kernelPath: KernelPath? = nil) -> any MetaGradientEngine<Float> {
        makeEngine(tasks: tasks, unroll: unroll, kernelPath: kernelPath, tileWidth: nil)
    }

    package func makeForwardEngine(tasks: [any Optimizee], kernelPath: KernelPath? = nil) -> any MetaGradientEngine<Float> {
        makeForwardEngine(tasks: tasks, kernelPath: kernelPath, tileWidth: nil)
    }
}

/// The paper's architecture: a coordinatewise stack of LSTM layers and a linear output
/// (`LearnedOptimizerConfig`, `ParameterLayout`), run by `UnrollEngine`.
package struct LSTMArchitecture: LearnedOptimizerArchitecture {
    package let layout: ParameterLayout

    package init(_ config: LearnedOptimizerConfig) { layout = ParameterLayout(config) }

    package var parameterCount: Int { layout.count }
    package var tensors: [ParameterLayout.Tensor] { layout.tensors }

    package func initialParameters(key: RandomKey) -> [Float] { layout.initialParameters(key: key) }

    package func makeEngine(tasks: [any Optimizee], unroll: Int, kernelPath: KernelPath?, tileWidth: Int?) -> any MetaGradientEngine<Float> {
        UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: unroll, tileWidth: tileWidth, kernelPath: kernelPath)
    }

    package func makeForwardEngine(tasks: [any Optimizee], kernelPath: KernelPath?, tileWidth: Int?) -> any MetaGradientEngine<Float> {
        UnrollEngine<Float>(forwardOnlyLayout: layout, tasks: tasks, tileWidth: tileWidth, kernelPath: kernelPath)
    }
}

extension LearnedOptimizerConfig {
    /// The architecture this configuration describes.
    package var architecture: any LearnedOptimizerArchitecture { LSTMArchitecture(self) }
}
