/// The paper's quadratics f(θ) = ‖Wθ − y‖² (`QuadraticFamily`) as a task family.
package struct QuadraticTask: TaskPlugin, Codable {
    /// Coordinates n of θ (the paper: 10).
    package var dimension: Int

    package init(dimension: Int) { self.dimension = dimension }

    package static let name = "quadratic"
    package static let options = ["dimension"]
    /// The paper's raw gradient and no output scaling. Quadratics are tiny, so 16 share one GEMM
    /// (128 functions make 8 blocks, enough for 8 ranks); 4000 meta-steps at 3e-3 (the best of
    /// 1e-3 and 3e-3 in our runs) is the default job, which beats the tuned baselines
    /// (docs/results.md). At a constant learning rate the last φ of those 4000 depends on the
    /// kernel path's rounding (one path's ended behind Adam), so the default job validates every
    /// 500 meta-steps and keeps the best φ: 20 quadratics of one horizon cost next to nothing.
    package static let defaults = TaskDefaults(
        optimizer: LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .raw, outputScale: 1),
        blockSize: 16, metaBatch: 128, iterations: 4000, learningRate: 3e-3, validateEvery: 500)
    package static let optimizerCount = 1
    /// H = 2WᵀW is known.
    package static let supportsSecondOrder = true

    package init(arguments: TaskArguments) { self.init(dimension: arguments.dimension) }

    /// W is n × n per function: n = 2^16 is already 32 GiB of Doubles per function.
    static let maxDimension = 1 << 16

    package var problems: [String] {
        dimension < 1 ? ["the quadratic dimension must be positive (got \(dimension))"]
            : [SizeLimits.problem("the quadratic dimension", dimension, limit: Self.maxDimension)].compactMap { $0 }
    }

    package var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        [("dimension", .integer(String(dimension)))]
    }

    package func makeFamily() throws -> any TaskFamily { QuadraticFamily(dimension: dimension) }

    package func coordinateCount() throws -> Int { dimension }

    /// Per function W and y in Double and θ₀ in Float.
    package func estimatedBytes(functions count: Int) -> Int? {
        SizeLimits.product(count, 8 * (dimension * dimension + dimension) + 4 * dimension)  // n ≤ 2^16 (`problems`)
    }

    /// W and y again, packed eight functions to a group of SIMD8<Double> lanes (`QuadraticBatch`):
    /// a group of one function takes as much as one of eight.
    package func estimatedBatchBytes(functions count: Int) -> Int? {
        SizeLimits.product((count + 7) / 8, 64, dimension * dimension + dimension)
    }

    package var reportDescription: String { "quadratic(dimension: \(dimension))" }
}
