/// How each block's meta-loss is scaled before the blocks are summed, so that one family whose
/// losses are larger does not dominate the meta-gradient of a mixture.
///
/// With `initialLoss` a block's meta-loss Σ_t w_t Σ_i f_i(θ_t) is divided by
/// c = mean_i f_i(θ₀) over the block's functions, evaluated on step 0 at the start of the horizon
/// (each block holds one family: `MixtureFamily` draws a component per block). c does not depend on
/// φ (θ₀ is the function's own), so the meta-gradient is the block's meta-gradient divided by c,
/// and every family's meta-loss starts near 1 per function and step whatever its loss units. c
/// comes from the functions as meta-training samples them, augmentations included, so the loss
/// scaling augmentation's factor cancels out of the weighting (not out of the gradients the
/// optimizer sees). Chosen over a running per-family scale because it needs no state: a resumed
/// or re-ranked run computes the same c from the block's keys.
///
/// With `truncationStart` each truncation's meta-loss Σ_{t=t₀+1..t₀+T} w_t Σ_i f_i(θ_t) is divided by
/// c_{t₀} = max(mean_i f_i(θ_{t₀}), ε · c) with c as above and ε = `truncationFloor`: the loss at the
/// truncation's first step, known before the truncation's forward pass (θ_{t₀} is where the
/// previous truncation ended; truncated BPTT treats it as a constant, so the meta-gradient is
/// again divided by a constant). A truncation then weighs its relative progress alike at the
/// start of a horizon and near its end, where `initialLoss` gives a family that has already
/// fallen to 1/1000 of its start (a quadratic) a thousandth of the weight. The floor keeps a
/// function that has reached its minimum (a loss of 0) from making the weight unbounded.
public enum MetaLossNormalization: String, Codable, Sendable, CaseIterable {
    case initialLoss = "initial-loss"
    case truncationStart = "truncation-start"

    /// ε of `truncationStart`: a truncation weighs at most 1/ε times its share under `initialLoss`
    /// (10⁴: the quadratics' median final loss is about 1/3000 of the initial one with tuned Adam).
    public static let truncationFloor = 1e-4

    /// c_{t₀} of `truncationStart` from the block's losses at the truncation's first step and its
    /// `initialLossScale`.
    public static func truncationScale(startLosses: [Float], initialScale: Double) -> Double {
        guard !startLosses.isEmpty else { return initialScale }
        let mean = startLosses.reduce(0.0) { $0 + Double($1) } / Double(startLosses.count)
        let floor = truncationFloor * initialScale
        return mean.isFinite && mean > floor ? mean : floor
    }

    /// c for a block of `functions`: the mean of f(θ₀) on step 0; 1 when that is not a positive
    /// finite number (a function whose loss starts at its minimum 0 has nothing to normalise).
    public static func initialLossScale(of functions: [any Optimizee]) -> Double {
        guard !functions.isEmpty else { return 1 }
        var sum = 0.0
        for f in functions {
            let theta = f.initialParameters()
            var gradient = [Float](repeating: 0, count: f.dimension)
            let loss = theta.withUnsafeBufferPointer { t in
                gradient.withUnsafeMutableBufferPointer { f.lossAndGradient(at: t, step: 0, gradient: $0) }
            }
            sum += Double(loss)
        }
        let c = sum / Double(functions.count)
        return c > 0 && c.isFinite ? c : 1
    }

    /// Divides a block's meta-gradient by `scale` in place: multiplication by the rounded 1/c,
    /// one rounding per value, the same on every rank.
    public static func divide<S: BinaryFloatingPoint>(_ gradient: UnsafeMutableBufferPointer<S>, by scale: Double) {
        let factor = S(1 / scale)
        for i in gradient.indices { gradient[i] *= factor }
    }
}
