/// Which optimizee family a run trains or evaluates on, with its settings.
public enum TaskSpec: Codable, Equatable, Sendable {
    /// f(θ) = ‖Wθ − y‖² with `dimension` coordinates.
    case quadratic(dimension: Int)

    public var name: String {
        switch self {
        case .quadratic: return "quadratic"
        }
    }

    public static let names = ["quadratic"]

    /// The paper's settings per family: raw gradient and no output scaling for the quadratics.
    public var defaultOptimizer: LearnedOptimizerConfig {
        switch self {
        case .quadratic: return LearnedOptimizerConfig(hiddenSize: 20, preprocessing: .raw, outputScale: 1)
        }
    }

    /// Tasks per block: quadratics are tiny, so 16 of them share one GEMM; 128 functions then make
    /// 8 blocks, enough for 8 ranks.
    public var defaultBlockSize: Int {
        switch self {
        case .quadratic: return 16
        }
    }

    public var optimizerCount: Int {
        switch self {
        case .quadratic: return 1
        }
    }

    public var supportsSecondOrder: Bool {
        if case .quadratic = self { return true }
        return false
    }

    public func problems() -> [String] {
        switch self {
        case .quadratic(let n): return n >= 1 ? [] : ["the quadratic dimension must be positive (got \(n))"]
        }
    }

    /// The family, ready to sample. May load data (image tasks), so it can throw.
    public func makeFamily() throws -> any TaskFamily {
        switch self {
        case .quadratic(let n): return QuadraticFamily(dimension: n)
        }
    }
}
