/// Optimizees of one type whose losses and gradients can be computed for a whole set of tasks in
/// one call (vector lanes across tasks), instead of one call through `any Optimizee` per task.
/// The engine evaluates every task at every unrolled step; for small functions such as the
/// paper's quadratics the per-task calls cost more than the arithmetic.
protocol BatchEvaluatedOptimizee: Optimizee {
    /// `tasks` prepared for `OptimizeeBatch.lossesAndGradients`, or nil where this type cannot
    /// batch them (then the caller evaluates task by task).
    static func makeBatch(_ tasks: [Self]) -> (any OptimizeeBatch)?
}

/// A prepared set of tasks whose θ (and ∇f) lie back to back in one flat vector, in the set's
/// order, as in the engine.
protocol OptimizeeBatch {
    /// Every task's f(θ) into `losses` and ∇f(θ) into `gradient`: the same bits as each task's own
    /// `lossAndGradient(at:step:gradient:)`.
    func lossesAndGradients(theta: UnsafePointer<Float>, step: Int, gradient: UnsafeMutablePointer<Float>,
                            losses: UnsafeMutablePointer<Float>)
}

/// The batch of `tasks` when all of them are of one `BatchEvaluatedOptimizee` type, else nil.
func makeOptimizeeBatch(_ tasks: [any Optimizee]) -> (any OptimizeeBatch)? {
    guard let first = tasks.first as? any BatchEvaluatedOptimizee else { return nil }
    return makeBatch(of: first, tasks)
}

private func makeBatch<T: BatchEvaluatedOptimizee>(of first: T, _ tasks: [any Optimizee]) -> (any OptimizeeBatch)? {
    let typed = tasks.compactMap { $0 as? T }
    return typed.count == tasks.count ? T.makeBatch(typed) : nil
}
