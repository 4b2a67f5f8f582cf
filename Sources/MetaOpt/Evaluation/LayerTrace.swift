import Foundation

/// Per-tensor root-mean-square of θ_t − θ₀ and of ∇f(θ_t) along one optimization run: what each
/// optimizer does to each layer. Made to see *why* an optimizer fails on a network, e.g. the
/// learned optimizer driving a hidden layer's biases into sigmoid saturation (docs/results.md).
package struct LayerTrace {
    package struct Row: Sendable, Equatable {
        package var step: Int
        package var optimizer: String
        package var tensor: String
        /// RMS over the tensor's coordinates of θ_t − θ₀ (how far the optimizer moved them).
        package var moved: Double
        /// RMS over the tensor's coordinates of ∇f(θ_t) on step t's minibatch.
        package var gradient: Double
    }

    package private(set) var rows: [Row] = []

    package init() {}

    /// Runs `optimizer` on `function` for `steps` steps and appends one row per step t = 0…steps−1
    /// and tensor (the gradient the optimizer was given at θ_t).
    package mutating func record(_ optimizer: any EvaluatedOptimizer, on function: any Optimizee,
                                tensors: [NamedTensor], steps: Int) throws {
        let tracer = TracingOptimizee(base: function, tensors: tensors)
        _ = try optimizer.run(on: [tracer], steps: steps)
        // The learned optimizer also evaluates θ_steps (its final loss comes with a gradient); the
        // baselines do not: every optimizer gets the same steps.
        for (step, values) in tracer.log.values.prefix(steps).enumerated() {
            for (tensor, v) in zip(tensors, values) {
                rows.append(Row(step: step, optimizer: optimizer.name, tensor: tensor.name, moved: v.moved, gradient: v.gradient))
            }
        }
    }

    /// `step,optimizer,tensor,rms_moved,rms_gradient`, one line per row.
    package func csv() -> String {
        var text = "step,optimizer,tensor,rms_moved,rms_gradient\n"
        for r in rows { text += "\(r.step),\(r.optimizer),\(r.tensor),\(r.moved),\(r.gradient)\n" }
        return text
    }
}

/// Forwards to `base` and logs, for every gradient evaluation, per-tensor RMS of θ − θ₀ and ∇f.
/// Steps must be evaluated in order 0, 1, 2, … (as every `EvaluatedOptimizer` does).
struct TracingOptimizee: Optimizee {
    final class Log {
        var values: [[(moved: Double, gradient: Double)]] = []
    }

    let base: any Optimizee
    let tensors: [NamedTensor]
    let start: [Float]
    let log = Log()

    init(base: any Optimizee, tensors: [NamedTensor]) {
        precondition(NamedTensor.allFit(tensors, dimension: base.dimension), "a tensor lies outside θ")
        self.base = base
        self.tensors = tensors
        start = base.initialParameters()
    }

    var dimension: Int { base.dimension }
    var parameterGroups: [ParameterGroup] { base.parameterGroups }
    func initialParameters() -> [Float] { start }

    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                         gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        let loss = base.lossAndGradient(at: theta, step: step, gradient: gradient)
        precondition(step == log.values.count, "steps out of order: got \(step), expected \(log.values.count)")
        log.values.append(tensors.map { t in
            var moved = 0.0, squares = 0.0
            for i in t.range {
                let d = Double(theta[i] - start[i]), g = Double(gradient[i])
                moved += d * d
                squares += g * g
            }
            let n = Double(max(t.range.count, 1))
            return ((moved / n).squareRoot(), (squares / n).squareRoot())
        })
        return loss
    }

    func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float {
        base.evaluationLoss(at: theta, step: step)
    }
}
