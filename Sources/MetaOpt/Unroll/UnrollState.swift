/// Which meta-gradient to compute.
public enum MetaGradientMode: String, Codable, Sendable, CaseIterable {
    /// The paper's: the optimizee gradients fed to the LSTM are constants (∂∇ₜ/∂φ = 0).
    case firstOrder = "first-order"
    /// The true derivative of the unrolled loss, including the path through ∇f(θₜ); needs the
    /// optimizee's Hessian (available for the quadratic family).
    case secondOrder = "second-order"
}

/// Everything carried from one truncation to the next for a set of tasks: θ, the gradient (and
/// loss) at θ, and the learned optimizer's recurrent state. Plain values, so a trainer can keep, copy or checkpoint it.
package struct UnrollState<S: MetaScalar>: Sendable {
    /// Optimizee step index of `theta` within the current horizon (0 right after sampling).
    package var step: Int
    /// θ of every task, concatenated in task order.
    package var theta: [S]
    /// ∇f(θ) at `step`, same layout as `theta`.
    package var gradient: [S]
    /// f(θ) at `step`, one per task.
    package var loss: [S]
    /// Per learned optimizer, its recurrent state as one flat array; for the LSTM: h1, c1, h2, c2,
    /// … of each layer, first to last (each H_k × M feature-major), concatenated.
    package var lstm: [[S]]
}
