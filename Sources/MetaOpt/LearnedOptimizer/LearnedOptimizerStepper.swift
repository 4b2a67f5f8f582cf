/// A trained learned optimizer stepping parameters that you hold, like an optimizer of any training
/// library: you compute the gradients, `step(parameters:gradients:)` updates the parameters in
/// place (docs/swift-api.md).
///
/// ```swift
/// let optimizer = LearnedOptimizer(file: try OptimizerFile.read(from: url))
/// let stepper = try optimizer.makeStepper(for: [.init(name: "weights", count: 20), .init(name: "bias", count: 1)])
/// try stepper.step(parameters: &parameters, gradients: gradients)   // [String: [Float]]
/// ```
///
/// Per coordinate i of every tensor, one step is the learned optimizer's forward step of training
/// and `evaluate`:
///
///     x_i = preprocess(g_i)                       (raw: g; log-sign: (log|g|/p, sign g) or (−1, e^p g))
///     (h_i, c_i) ← LSTM stack((x_i), (h_i, c_i); φ)
///     θ_i ← θ_i + outputScale · (w_oᵀ h_i,last + b_o)
///
/// with h and c of every layer per coordinate (2 · Σ hiddenSizes values each), zero when the
/// stepper is made and after `reset()`. All coordinates of all tensors are one batch on the
/// engine that training and `evaluate` run: the same vector kernels (`kernelPath`) and one matrix
/// product per LSTM layer and step, so for the same gradients the parameters are the same, bit
/// for bit, as in `LearnedOptimizer.run` on an optimizee whose parameter groups are these tensors
/// in this order.
///
/// Not thread-safe: one stepper per training loop.
public final class LearnedOptimizerStepper {
    /// The tensors in the order of the flat layout (`step(parameters:gradients:)` on `[Float]`).
    public let tensors: [LearnedOptimizer.Tensor]
    /// The vector kernels this stepper runs.
    public let kernelPath: KernelPath
    /// Steps taken since the stepper was made or last reset.
    public private(set) var stepCount = 0
    /// Coordinates over all tensors.
    public let coordinateCount: Int

    private let phi: [Float]
    private let engine: any MetaGradientEngine<Float>
    /// Start of each tensor in the flat layout.
    private let offsets: [Int]
    private var flatParameters: [Float]
    private var flatGradients: [Float]

    init(optimizer: LearnedOptimizer, tensors: [LearnedOptimizer.Tensor], kernelPath: KernelPath?) throws(StepperError) {
        guard !tensors.isEmpty else { throw .noTensors }
        var seen = Set<String>()
        var offsets = [0]
        var groups: [ParameterGroup] = []
        for tensor in tensors {
            guard seen.insert(tensor.name).inserted else { throw .duplicateName(tensor.name) }
            guard tensor.count >= 0 else { throw .negativeCount(name: tensor.name, count: tensor.count) }
            // Bounded before the sum: huge counts would overflow the offsets or trap in an allocation.
            guard tensor.count <= SizeLimits.coordinates - offsets.last! else {
                throw .tooManyCoordinates(limit: SizeLimits.coordinates)
            }
            guard (0..<optimizer.config.optimizerCount).contains(tensor.optimizer) else {
                throw .unknownOptimizer(name: tensor.name, optimizer: tensor.optimizer,
                                        available: optimizer.config.optimizerCount)
            }
            groups.append(ParameterGroup(range: offsets.last!..<offsets.last! + tensor.count, optimizer: tensor.optimizer))
            offsets.append(offsets.last! + tensor.count)
        }
        let total = offsets.last!
        guard total > 0 else { throw .noTensors }
        let path: KernelPath
        do { path = try KernelPath.resolved(kernelPath) } catch { throw .kernelPathRequest(error.description) }
        guard path.isSupported else { throw .unsupportedKernelPath(path) }
        self.tensors = tensors
        self.kernelPath = path
        coordinateCount = total
        phi = optimizer.phi
        self.offsets = offsets
        flatParameters = [Float](repeating: 0, count: total)
        flatGradients = [Float](repeating: 0, count: total)
        // One task whose parameter groups are the tensors: the column layout `run` would give an
        // optimizee with the same groups, hence the same bits.
        engine = optimizer.config.architecture.makeForwardEngine(
            tasks: [TensorLayout(dimension: total, parameterGroups: groups)], kernelPath: path)
        engine.resetRecurrentState()
    }

    /// One step on a flat parameter vector: the tensors concatenated in `tensors` order
    /// (`coordinateCount` values), the gradients ∇f(θ) laid out the same way, every one finite.
    /// Nothing changes when it throws.
    public func step(parameters: inout [Float], gradients: [Float]) throws(StepperError) {
        guard parameters.count == coordinateCount else {
            throw .wrongCount(name: "parameters", expected: coordinateCount, got: parameters.count)
        }
        guard gradients.count == coordinateCount else {
            throw .wrongCount(name: "gradients", expected: coordinateCount, got: gradients.count)
        }
        if let i = gradients.firstIndex(where: { !$0.isFinite }) {
            let t = offsets.lastIndex { $0 <= i }!  // the last of the tensors starting at or before i: a zero-count one is skipped
            throw .nonFiniteGradient(name: "gradients", index: i, tensor: tensors[t].name)
        }
        phi.withUnsafeBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in
                parameters.withUnsafeMutableBufferPointer { engine.step(phi: p, gradient: g, theta: $0) }
            }
        }
        stepCount += 1
    }

    /// One step on named tensors, updated in place: `parameters` and `gradients` must hold every
    /// tensor of `tensors` under its name with its count, the gradients finite (other entries of
    /// `parameters` are left alone). Nothing changes when it throws.
    public func step(parameters: inout [String: [Float]], gradients: [String: [Float]]) throws(StepperError) {
        for tensor in tensors {
            for (kind, values) in [("parameters", parameters), ("gradients", gradients)] {
                guard let v = values[tensor.name] else { throw .missingTensor(name: tensor.name, in: kind) }
                guard v.count == tensor.count else { throw .wrongCount(name: "\(kind)[\"\(tensor.name)\"]", expected: tensor.count, got: v.count) }
            }
            if let i = gradients[tensor.name]!.firstIndex(where: { !$0.isFinite }) {
                throw .nonFiniteGradient(name: "gradients[\"\(tensor.name)\"]", index: i, tensor: tensor.name)
            }
        }
        for (i, tensor) in tensors.enumerated() {
            flatParameters.replaceSubrange(offsets[i]..<offsets[i + 1], with: parameters[tensor.name]!)
            flatGradients.replaceSubrange(offsets[i]..<offsets[i + 1], with: gradients[tensor.name]!)
        }
        try step(parameters: &flatParameters, gradients: flatGradients)
        for (i, tensor) in tensors.enumerated() {
            parameters[tensor.name]!.withUnsafeMutableBufferPointer { dst in
                flatParameters.withUnsafeBufferPointer { src in
                    dst.baseAddress!.update(from: src.baseAddress! + offsets[i], count: tensor.count)
                }
            }
        }
    }

    /// Puts every coordinate's LSTM state back at rest (h = c = 0), as for a new problem.
    public func reset() {
        engine.resetRecurrentState()
        stepCount = 0
    }
}

extension LearnedOptimizer {
    /// A named tensor of the parameters a `LearnedOptimizerStepper` updates, and which of the
    /// file's learned optimizers updates it.
    public struct Tensor: Hashable, Sendable {
        public var name: String
        /// Number of values (coordinates).
        public var count: Int
        /// Index of the learned optimizer in φ (`optimizerK.` tensors of the file), in
        /// 0 ..< `LearnedOptimizerConfig.optimizerCount`; default 0. The CNN's files: 0 for the
        /// convolution parameters, 1 for the fully connected ones.
        public var optimizer: Int

        public init(name: String, count: Int, optimizer: Int = 0) {
            self.name = name
            self.count = count
            self.optimizer = optimizer
        }
    }

    /// A stepper for parameters made of `tensors` (in this order), with its recurrent state at rest.
    /// `kernelPath` nil: `KernelPath.default` (the fastest this CPU runs, unless `METAOPT_KERNELS`
    /// says otherwise).
    public func makeStepper(for tensors: [Tensor], kernelPath: KernelPath? = nil) throws(StepperError) -> LearnedOptimizerStepper {
        try LearnedOptimizerStepper(optimizer: self, tensors: tensors, kernelPath: kernelPath)
    }
}

/// Why a stepper could not be made or could not step.
public enum StepperError: Error, Equatable, CustomStringConvertible {
    case noTensors
    case duplicateName(String)
    case negativeCount(name: String, count: Int)
    /// The tensors' counts add up to more than `limit` coordinates.
    case tooManyCoordinates(limit: Int)
    case unknownOptimizer(name: String, optimizer: Int, available: Int)
    case unsupportedKernelPath(KernelPath)
    /// `METAOPT_KERNELS` names a path this build or CPU cannot run (the message says which).
    case kernelPathRequest(String)
    case missingTensor(name: String, in: String)
    case wrongCount(name: String, expected: Int, got: Int)
    /// `name[index]` (a coordinate of `tensor`) is NaN or infinite: the learned optimizer would turn
    /// that coordinate's parameter and LSTM state into NaN for good (until `reset()`).
    case nonFiniteGradient(name: String, index: Int, tensor: String)

    public var description: String {
        switch self {
        case .noTensors: return "a stepper needs at least one tensor with at least one value"
        case .duplicateName(let n): return "tensor '\(n)' is named twice"
        case .negativeCount(let n, let c): return "tensor '\(n)' has a negative count (\(c))"
        case .tooManyCoordinates(let limit): return "the tensors have more than \(limit) values in all"
        case .unknownOptimizer(let n, let o, let a):
            return "tensor '\(n)' asks for learned optimizer \(o); the file has \(a) (0..<\(a))"
        case .unsupportedKernelPath(let p): return "this CPU cannot run the \(p.rawValue) kernels"
        case .kernelPathRequest(let message): return message
        case .missingTensor(let n, let kind): return "\(kind) has no tensor '\(n)'"
        case .wrongCount(let n, let e, let g): return "\(n) has \(g) values, expected \(e)"
        case .nonFiniteGradient(let n, let i, let t):
            return "\(n)[\(i)] (tensor '\(t)') is not finite; the step needs finite gradients and changed nothing"
        }
    }
}

/// The shape of the caller's parameters as the engine's one task: its dimension and parameter
/// groups. The stepper copies θ and ∇f in each step, so the engine never evaluates it.
private struct TensorLayout: Optimizee {
    let dimension: Int
    let parameterGroups: [ParameterGroup]

    func initialParameters() -> [Float] { [Float](repeating: 0, count: dimension) }

    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        preconditionFailure("a stepper's gradients come from its caller; the engine never evaluates its layout")
    }
}
