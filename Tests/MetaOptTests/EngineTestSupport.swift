@testable import MetaOpt

/// Two truncations of an engine over `tasks` from the initial state: the meta-gradient of the
/// second, its losses, and the final θ and LSTM state, as Doubles (for comparing engines across
/// tile widths, scalar types and layer stacks).
func twoTruncations<S: MetaScalar>(_: S.Type, layout: ParameterLayout, tasks: [any Optimizee], phi: [Double], unroll: Int,
                                   tileWidth: Int?, mode: MetaGradientMode = .firstOrder,
                                   kernelPath: KernelPath? = nil) -> [Double] {
    let engine = UnrollEngine<S>(layout: layout, tasks: tasks, unroll: unroll, lossWeights: nil, tileWidth: tileWidth,
                                 kernelPath: kernelPath)
    var state = engine.initialState()
    let p = phi.map { S($0) }
    var g = [S](repeating: 0, count: layout.count)
    var losses: [S] = []
    for _ in 0..<2 {
        losses = p.withUnsafeBufferPointer { pp in
            g.withUnsafeMutableBufferPointer { engine.truncation(phi: pp, state: &state, mode: mode, gradient: $0) }
        }
    }
    return (g + losses + state.theta + state.lstm.flatMap { $0 }).map { Double($0) }
}

/// max |a − b| / max |b|.
func maxRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var d = 0.0, n = 0.0
    for (x, y) in zip(a, b) {
        d = max(d, abs(x - y))
        n = max(n, abs(y))
    }
    return d / n
}

/// One truncation of a Float engine over `tasks` from their θ₀: its losses and meta-gradient (the
/// reference a trainer's first meta-step over the same functions is checked against).
func firstTruncation(layout: ParameterLayout, tasks: [any Optimizee], phi: [Float], unroll: Int)
    -> (losses: [Float], gradient: [Float]) {
    let engine = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: unroll)
    var state = engine.initialState()
    var g = [Float](repeating: 0, count: layout.count)
    let losses = phi.withUnsafeBufferPointer { p in
        g.withUnsafeMutableBufferPointer { engine.truncation(phi: p, state: &state, gradient: $0) }
    }
    return (losses, g)
}

/// The same 5 steps of `tasks` twice: as one truncation of an engine with unroll 5 (history kept,
/// meta-gradient computed) and as a forward-only run of an engine with unroll 1; the two end states.
func truncationAndForwardRun(layout: ParameterLayout, tasks: [any Optimizee], phi: [Float])
    -> (truncation: UnrollState<Float>, forward: UnrollState<Float>) {
    let trained = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 5)
    var a = trained.initialState()
    var g = [Float](repeating: 0, count: layout.count)
    phi.withUnsafeBufferPointer { p in
        g.withUnsafeMutableBufferPointer { _ = trained.truncation(phi: p, state: &a, gradient: $0) }
    }
    let forward = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 1)
    var b = forward.initialState()
    phi.withUnsafeBufferPointer { forward.run(phi: $0, state: &b, steps: 5) }
    return (a, b)
}

/// θ and losses after `steps` forward steps of 7 quadratics of dimension 13 (91 columns: a ragged
/// last vector on every path and a ragged register block), then one truncation's meta-gradient
/// (whose forward keeps history), on kernel path `path` with the layers' products fused into the
/// forward kernel or not (`fused`), on the path's own product kernel or OpenBLAS (`own`), and with
/// the forward products' terms paired or not (`paired`; each nil: the path's choice).
func stepsThenTruncation(_ path: KernelPath, fused: Bool? = nil, own: Bool? = nil, paired: Bool? = nil, hiddenSizes: [Int],
                         preprocessing: InputPreprocessing, tileWidth: Int, mode: MetaGradientMode = .firstOrder,
                         steps: Int = 12) -> [Float] {
    let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: hiddenSizes, preprocessing: preprocessing,
                                                        outputScale: 0.1))
    var s = RandomKey(seed: 4, horizon: 0, task: 0).stream(.auxiliary)
    let phi: [Float] = layout.initialParameters(key: RandomKey(seed: 3, horizon: 0, task: 0))
        .map { $0 + Float(0.1 * s.normal()) }
    let tasks: [any Optimizee] = (0..<7).map {
        QuadraticOptimizee(dimension: 13, key: RandomKey(seed: 6, horizon: 0, task: $0))
    }
    let engine = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 4, tileWidth: tileWidth, kernelPath: path,
                                     fusedForward: fused, ownProducts: own, pairedProducts: paired)
    var state = engine.initialState()
    phi.withUnsafeBufferPointer { engine.run(phi: $0, state: &state, steps: steps) }
    var g = [Float](repeating: 0, count: layout.count)
    let losses = phi.withUnsafeBufferPointer { p in
        g.withUnsafeMutableBufferPointer { engine.truncation(phi: p, state: &state, mode: mode, gradient: $0) }
    }
    return state.theta + losses + g
}

/// ½|θ|² in 4 coordinates whose second half asks for learned optimizer 1: a function that a
/// one-optimizer φ cannot run.
struct TwoGroupBowl: Optimizee {
    var dimension: Int { 4 }
    var parameterGroups: [ParameterGroup] {
        [ParameterGroup(range: 0..<2, optimizer: 0), ParameterGroup(range: 2..<4, optimizer: 1)]
    }
    func initialParameters() -> [Float] { [1, 1, 1, 1] }
    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        for i in 0..<4 { gradient[i] = theta[i] }
        return theta.reduce(0) { $0 + $1 * $1 } / 2
    }
}
