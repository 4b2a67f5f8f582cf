/// Steps on gradients the caller supplies (`LearnedOptimizerStepper`): the forward step of `run`
/// with θ and ∇f copied in from the caller's buffers instead of evaluated from the tasks, so the
/// update is the same, bit for bit, as during `evaluate` for the same gradients.
extension UnrollEngine {
    /// Zero h and c in history slot 0 (θ and ∇f there are zeroed too; each step copies its own in).
    package func resetRecurrentState() {
        let zeros = [S](repeating: 0, count: coordinateCount)
        let stateRows = 2 * layout.config.hiddenSizes.reduce(0, +)
        load(UnrollState(step: 0, theta: zeros, gradient: zeros, loss: [],
                         lstm: lanes.map { [S](repeating: 0, count: stateRows * $0.columns) }))
        givenGradientSlot = 0
    }

    /// Copies ∇f and θ into the slots `run` would read, takes its forward step (two history slots,
    /// no BPTT history), copies θ back out.
    package func step(phi: UnsafeBufferPointer<S>, gradient: UnsafeBufferPointer<S>, theta external: UnsafeMutableBufferPointer<S>) {
        precondition(phi.count == layout.count, "φ has \(phi.count) values, the layout needs \(layout.count)")
        precondition(gradient.count == coordinateCount && external.count == coordinateCount,
                     "θ and ∇f must have \(coordinateCount) values")
        let s = givenGradientSlot, d = 1 - s
        gradients[s].base.update(from: gradient.baseAddress!, count: coordinateCount)
        theta.base.update(from: external.baseAddress!, count: coordinateCount)
        forwardStep(phi: phi.baseAddress!, from: s, to: d, gradientSlot: s, keepHistory: false)
        external.baseAddress!.update(from: theta.base, count: coordinateCount)
        givenGradientSlot = d
    }
}
