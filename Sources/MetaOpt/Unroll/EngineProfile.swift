/// Where an engine's time goes, per phase (off unless `UnrollEngine.profile` is set; the timing
/// itself costs about 0.1 µs per phase and step). The phases follow one unrolled step: the
/// preprocessing, each layer's forward product and kernel (first to last), the θ update, the
/// optimizee, each layer's backward kernel, dW and dX (last to first), the adjoint.
package struct EngineProfile: Codable, Sendable {
    package struct Phase: Hashable, Codable, Sendable {
        package enum Kind: String, Codable, Sendable {
            case preprocessing, forwardGEMM, forwardKernel, thetaUpdate, optimizee, backwardKernel, weightGEMM,
                 inputGEMM, adjoint
        }
        package var kind: Kind
        /// The LSTM layer (1 = first), for the per-layer kinds.
        package var layer: Int?
        /// Whether this is the last layer's phase, where the output layer runs fused.
        package var isLastLayer: Bool

        package var name: String {
            let l = "L\(layer ?? 0)"
            switch kind {
            case .preprocessing: return "preprocessing"
            case .forwardGEMM: return "GEMM \(l) forward"
            case .forwardKernel: return "kernel \(l) forward" + (isLastLayer ? " + output" : "")
            case .thetaUpdate: return "θ update"
            case .optimizee: return "optimizee f, ∇f"
            case .backwardKernel: return "kernel \(l) backward" + (isLastLayer ? " + output" : "")
            case .weightGEMM: return "dW \(l) (vector kernel) + X rebuild"
            case .inputGEMM: return layer == 1 ? "GEMM L1 dX_h" : "GEMM \(l) dX"
            case .adjoint: return "adjoint, dL/du"
            }
        }

        /// The matrix products (OpenBLAS or the path's product kernel, and the dW kernel).
        package var isGEMM: Bool { [.forwardGEMM, .weightGEMM, .inputGEMM].contains(kind) }
    }

    /// Every phase, in step order.
    package let phases: [Phase]
    /// Seconds per phase, indexed like `phases`.
    package var seconds: [Double]
    let layerCount: Int

    package init(layerCount: Int) {
        precondition(layerCount >= 1)
        self.layerCount = layerCount
        func layer(_ kind: Phase.Kind, _ l: Int) -> Phase { Phase(kind: kind, layer: l + 1, isLastLayer: l == layerCount - 1) }
        var phases = [Phase(kind: .preprocessing, layer: nil, isLastLayer: false)]
        for l in 0..<layerCount { phases += [layer(.forwardGEMM, l), layer(.forwardKernel, l)] }
        phases += [Phase(kind: .thetaUpdate, layer: nil, isLastLayer: false), Phase(kind: .optimizee, layer: nil, isLastLayer: false)]
        for l in (0..<layerCount).reversed() {
            phases += [layer(.backwardKernel, l), layer(.weightGEMM, l), layer(.inputGEMM, l)]
        }
        phases.append(Phase(kind: .adjoint, layer: nil, isLastLayer: false))
        self.phases = phases
        seconds = [Double](repeating: 0, count: phases.count)
    }

    /// The index in `phases` of a phase (`layer` 0-based for the per-layer kinds).
    @inline(__always)
    func index(_ kind: Phase.Kind, layer l: Int = 0) -> Int {
        let k = layerCount
        switch kind {
        case .preprocessing: return 0
        case .forwardGEMM: return 1 + 2 * l
        case .forwardKernel: return 2 + 2 * l
        case .thetaUpdate: return 1 + 2 * k
        case .optimizee: return 2 + 2 * k
        case .backwardKernel: return 3 + 2 * k + 3 * (k - 1 - l)
        case .weightGEMM: return 4 + 2 * k + 3 * (k - 1 - l)
        case .inputGEMM: return 5 + 2 * k + 3 * (k - 1 - l)
        case .adjoint: return 3 + 5 * k
        }
    }

    package subscript(_ phase: Phase) -> Double { phases.firstIndex(of: phase).map { seconds[$0] } ?? 0 }
    package var total: Double { seconds.reduce(0, +) }
}
