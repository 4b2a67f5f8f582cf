import Foundation

/// What `metaopt-dist bench` times: a batch of functions from a `TaskFamily` and the learned
/// optimizer's settings, run as the meta-trainer runs them (truncations of `unroll` steps,
/// meta-gradient, Adam step on φ; new functions every `horizon / unroll` truncations).
///
/// The family is the plug-in point: any `TaskFamily` works (e.g. `try TaskSpec.….makeFamily()`).
package struct BenchmarkWorkload: Sendable {
    /// Short name used on the command line and in the JSON output.
    package var name: String
    /// The family the functions are drawn from.
    package var family: any TaskFamily
    /// The learned optimizer's architecture (preprocessing, output scale, hidden size).
    package var optimizer: LearnedOptimizerConfig
    /// Functions per meta-iteration.
    package var functions: Int
    /// Functions per engine (all of them by default: one GEMM per layer and step over all coordinates).
    package var blockSize: Int
    package var unroll: Int
    package var horizon: Int
    /// The JAX reference's name of the same workload (`l2l_jax.py bench --task …`), if it has one.
    package var peerTask: String?

    package init(name: String, family: any TaskFamily, optimizer: LearnedOptimizerConfig, functions: Int,
                blockSize: Int? = nil, unroll: Int = 20, horizon: Int = 100, peerTask: String? = nil) {
        precondition(functions >= 1 && unroll >= 1 && horizon >= unroll)
        self.name = name
        self.family = family
        self.optimizer = optimizer
        self.functions = functions
        self.blockSize = min(blockSize ?? functions, functions)
        self.unroll = unroll
        self.horizon = horizon
        self.peerTask = peerTask
    }

    /// The JAX reference's settings: Appendix-A preprocessing (p = 10) and output scale 0.1.
    package static let peerOptimizer = LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10),
                                                             outputScale: 0.1)

    /// B = 128 ten-dimensional quadratics (1,280 coordinates) with the JAX reference's settings.
    package static func quadratic(functions: Int = 128, dimension: Int = 10, blockSize: Int? = nil) -> BenchmarkWorkload {
        BenchmarkWorkload(name: "quadratic", family: QuadraticFamily(dimension: dimension), optimizer: peerOptimizer,
                          functions: functions, blockSize: blockSize, peerTask: "quad")
    }

    /// The same quadratics with the project's quadratic defaults (raw gradient input, output scale 1).
    package static func quadraticDefaults(functions: Int = 128, dimension: Int = 10, blockSize: Int? = nil) -> BenchmarkWorkload {
        BenchmarkWorkload(name: "quadratic-defaults", family: QuadraticFamily(dimension: dimension),
                          optimizer: TaskSpec.quadratic(dimension: dimension).defaultOptimizer,
                          functions: functions, blockSize: blockSize)
    }

    /// One function of `family` with the JAX reference's settings: the paper's 784-20-10 sigmoid
    /// MLP on Fashion-MNIST (15,910 coordinates, minibatch 128), as `metaopt-dist bench --task mlp`
    /// builds it, or by default `SyntheticMLPSizedFamily`, a stand-in with the same number of
    /// coordinates and almost no optimizee cost (it needs no data).
    package static func mlp(family: any TaskFamily = SyntheticMLPSizedFamily(), functions: Int = 1,
                           name: String = "mlp") -> BenchmarkWorkload {
        BenchmarkWorkload(name: name, family: family, optimizer: peerOptimizer, functions: functions, peerTask: "mlp")
    }

    /// The paper's MLP on Fashion-MNIST from `directory` (nil: the default location).
    package static func realMLP(directory: String? = nil) throws -> BenchmarkWorkload {
        let spec = TaskSpec.image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()), directory: directory))
        return .mlp(family: try spec.makeFamily(), name: "mlp")
    }
}

/// A stand-in for the MNIST MLP while it is not available: a separable quadratic
/// f(θ) = Σᵢ aᵢ (θᵢ − cᵢ)² with the MLP's 15,910 coordinates, curvatures aᵢ log-uniform in
/// [10⁻⁴, 1] (so the gradient coordinates span several orders of magnitude, as a network's do)
/// and θ₀ ~ N(0, 0.01²) like the MLP's initial weights. Its cost (a few FLOPs per coordinate) is
/// negligible next to the learned optimizer's ~30 kFLOP per coordinate and step.
package struct SyntheticMLPSizedFamily: TaskFamily {
    package let dimension: Int
    package init(dimension: Int = 15_910) {
        precondition(dimension > 0)
        self.dimension = dimension
    }
    package var name: String { "synthetic-mlp-sized" }
    package var optimizerCount: Int { 1 }
    package func sample(_ key: RandomKey) -> any Optimizee { SeparableQuadratic(dimension: dimension, key: key) }
}

/// f(θ) = Σᵢ aᵢ (θᵢ − cᵢ)²; see `SyntheticMLPSizedFamily`.
package struct SeparableQuadratic: Optimizee, Sendable {
    package let dimension: Int
    package let curvature: [Float]
    package let center: [Float]
    package let theta0: [Float]

    package init(dimension n: Int, key: RandomKey) {
        var s = key.stream(.function)
        curvature = (0..<n).map { _ in Float(pow(10, s.uniform(-4, 0))) }
        center = (0..<n).map { _ in Float(s.normal()) }
        var s0 = key.stream(.initialParameters)
        theta0 = (0..<n).map { _ in Float(0.01 * s0.normal()) }
        dimension = n
    }

    package func initialParameters() -> [Float] { theta0 }

    package func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                                gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        var loss: Float = 0
        curvature.withUnsafeBufferPointer { a in
            center.withUnsafeBufferPointer { c in
                for i in 0..<dimension {
                    let d = theta[i] - c[i]
                    gradient[i] = 2 * a[i] * d
                    loss += a[i] * d * d
                }
            }
        }
        return loss
    }
}
