/// The paper's quadratics f(θ) = ‖Wθ − y‖² (`QuadraticFamily`) as a task family.
public struct QuadraticTask: TaskPlugin, Codable {
    /// Coordinates n of θ (the paper: 10).
    public var dimension: Int

    public init(dimension: Int) { self.dimension = dimension }

    public static let name = "quadratic"
    public static let options = ["dimension"]
    /// The paper's raw gradient and no output scaling. Quadratics are tiny, so 16 share one GEMM
    /// (128 functions make 8 blocks, enough for 8 ranks); 4000 meta-steps at 3e-3 (the best of
    /// 1e-3 and 3e-3 in our runs) is the default job, which beats the tuned baselines
    /// (docs/results.md).
    public static let defaults = TaskDefaults(
        optimizer: LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .raw, outputScale: 1),
        blockSize: 16, metaBatch: 128, iterations: 4000, learningRate: 3e-3)
    public static let optimizerCount = 1
    /// H = 2WᵀW is known.
    public static let supportsSecondOrder = true

    public init(arguments: TaskArguments) { self.init(dimension: arguments.dimension) }

    public var problems: [String] {
        dimension >= 1 ? [] : ["the quadratic dimension must be positive (got \(dimension))"]
    }

    public var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        [("dimension", .integer(String(dimension)))]
    }

    public func makeFamily() throws -> any TaskFamily { QuadraticFamily(dimension: dimension) }

    public func coordinateCount() throws -> Int { dimension }

    public var reportDescription: String { "quadratic(dimension: \(dimension))" }
}
