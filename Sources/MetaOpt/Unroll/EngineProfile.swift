/// Where an engine's time goes, per phase (off unless `UnrollEngine.profile` is set; the timing
/// itself costs about 0.1 µs per phase and step).
public struct EngineProfile: Codable, Sendable {
    public enum Phase: Int, CaseIterable, Codable, Sendable {
        case preprocessing, forwardGEMM1, forwardKernel1, forwardGEMM2, forwardKernel2, thetaUpdate, optimizee,
             backwardKernel2, weightGEMM2, inputGEMM2, backwardKernel1, weightGEMM1, inputGEMM1, adjoint

        public var name: String {
            switch self {
            case .preprocessing: return "preprocessing"
            case .forwardGEMM1: return "GEMM L1 forward (OpenBLAS)"
            case .forwardKernel1: return "kernel L1 forward"
            case .forwardGEMM2: return "GEMM L2 forward (OpenBLAS)"
            case .forwardKernel2: return "kernel L2 forward + output"
            case .thetaUpdate: return "θ update"
            case .optimizee: return "optimizee f, ∇f"
            case .backwardKernel2: return "kernel L2 backward + output"
            case .weightGEMM2: return "dW L2 (vector kernel) + X rebuild"
            case .inputGEMM2: return "GEMM L2 dX (OpenBLAS)"
            case .backwardKernel1: return "kernel L1 backward"
            case .weightGEMM1: return "dW L1 (vector kernel)"
            case .inputGEMM1: return "GEMM L1 dX_h (OpenBLAS)"
            case .adjoint: return "adjoint, dL/du"
            }
        }

        /// The matrix products (OpenBLAS or the dW kernel).
        public var isGEMM: Bool {
            [.forwardGEMM1, .forwardGEMM2, .weightGEMM2, .inputGEMM2, .weightGEMM1, .inputGEMM1].contains(self)
        }
    }

    /// Seconds per phase, indexed by `Phase.rawValue`.
    public var seconds = [Double](repeating: 0, count: Phase.allCases.count)
    public init() {}

    public subscript(_ phase: Phase) -> Double { seconds[phase.rawValue] }
    public var total: Double { seconds.reduce(0, +) }
}
