import Foundation

/// The n-dimensional Rosenbrock function, each sampled function with its own shift and curvature:
///
///     f(θ) = Σ_{i<n−1} aᵢ·(x_{i+1} − xᵢ²)² + (1 − xᵢ)²,   x = θ − c,
///
/// with aᵢ log-uniform in [1, 100] (100 is the usual constant) and cᵢ uniform in [−1, 1), both
/// drawn from the function's key, so that functions differ in where their curved valley lies and
/// how steep its walls are. The minimum f = 0 is at θ = c + 1; θ₀ is standard normal.
/// Deterministic: `step` is ignored.
public struct RosenbrockOptimizee: DoubleEvaluatedOptimizee, Sendable {
    public let dimension: Int
    /// The valley's steepness per pair of neighbouring coordinates (n − 1 values).
    public let curvatures: [Double]
    /// The shift c of the minimum (n values).
    public let shifts: [Double]
    public let theta0: [Float]

    public init(dimension n: Int, key: RandomKey) {
        precondition(n >= 2, "the Rosenbrock function needs at least 2 coordinates")
        var s = key.stream(.function)
        dimension = n
        curvatures = (0..<(n - 1)).map { _ in pow(10, s.uniform(0, 2)) }
        shifts = (0..<n).map { _ in s.uniform(-1, 1) }
        var s0 = key.stream(.initialParameters)
        theta0 = (0..<n).map { _ in Float(s0.normal()) }
    }

    public func initialParameters() -> [Float] { theta0 }

    /// The loss, with ∇f written coordinate by coordinate; in Double whatever the input type.
    @inline(__always)
    func lossAndGradient(reading theta: (Int) -> Double, writing write: (Int, Double) -> Void) -> Double {
        var loss = 0.0
        var x = theta(0) - shifts[0]
        // Coordinate i's gradient gets its parts from terms i − 1 and i; carried to the next term.
        var carried = 0.0
        for i in 0..<(dimension - 1) {
            let next = theta(i + 1) - shifts[i + 1]
            let a = curvatures[i]
            let u = next - x * x
            loss += a * u * u + (1 - x) * (1 - x)
            write(i, carried - 4 * a * u * x - 2 * (1 - x))
            carried = 2 * a * u
            x = next
        }
        write(dimension - 1, carried)
        return loss
    }


}

/// Samples `RosenbrockOptimizee`s of a given dimension.
public struct RosenbrockFamily: TaskFamily {
    public let dimension: Int
    public init(dimension: Int) {
        precondition(dimension >= 2)
        self.dimension = dimension
    }
    public var name: String { RosenbrockTask.name }
    public var optimizerCount: Int { RosenbrockTask.optimizerCount }
    public func sample(_ key: RandomKey) -> any Optimizee { RosenbrockOptimizee(dimension: dimension, key: key) }
}

/// Randomly shifted and scaled Rosenbrock functions (`RosenbrockOptimizee`) as a task family.
package struct RosenbrockTask: TaskPlugin, Codable {
    /// Coordinates n of θ (at least 2).
    package var dimension: Int

    package init(dimension: Int) { self.dimension = dimension }

    package static let name = "rosenbrock"
    package static let options = ["dimension"]
    /// The gradient spans orders of magnitude between the valley's walls and its floor, so the LSTM
    /// sees it through the paper's log/sign preprocessing, with the image tasks' output scale 0.1;
    /// small functions share blocks as the quadratics do. 2000 meta-steps (half a minute on one
    /// core) beat the tuned baselines; 1000 do not yet (docs/results.md, "Rosenbrock").
    package static let defaults = TaskDefaults(
        optimizer: LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10), outputScale: 0.1),
        blockSize: 16, metaBatch: 128, iterations: 2000, learningRate: 3e-3)
    package static let optimizerCount = 1

    package init(arguments: TaskArguments) { self.init(dimension: arguments.dimension) }

    package var problems: [String] {
        dimension < 2 ? ["the Rosenbrock dimension must be at least 2 (got \(dimension))"]
            : [SizeLimits.problem("the Rosenbrock dimension", dimension, limit: SizeLimits.coordinates)].compactMap { $0 }
    }

    package var runSettingsValues: [(key: String, value: RunSettings.Value)] {
        [("dimension", .integer(String(dimension)))]
    }

    package func makeFamily() throws -> any TaskFamily { RosenbrockFamily(dimension: dimension) }

    package func coordinateCount() throws -> Int { dimension }

    /// Per function n − 1 curvatures and n shifts in Double, θ₀ in Float; no batch form.
    package func estimatedBytes(functions count: Int) -> Int? {
        SizeLimits.product(count, 20, dimension)
    }

    package var reportDescription: String { "rosenbrock(dimension: \(dimension))" }
}

extension TaskSpec {
    /// Randomly shifted and scaled Rosenbrock functions (`RosenbrockOptimizee`) of `dimension`
    /// coordinates.
    public static func rosenbrock(dimension: Int) -> TaskSpec { TaskSpec(RosenbrockTask(dimension: dimension)) }
}
