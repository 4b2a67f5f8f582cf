/// What the trainer, the evaluator and the benchmark need of an engine that runs a learned
/// optimizer on a fixed set of tasks: the state at the start of a horizon, forward-only runs,
/// truncations with their meta-gradient, new tasks of the same shapes, and its memory.
///
/// Calls through this protocol happen once per truncation (or forward run), never per tile; an
/// implementation keeps its hot loops concrete.
package protocol MetaGradientEngine<Scalar>: AnyObject {
    associatedtype Scalar: MetaScalar

    /// Start of each task's θ in the flat coordinate vector; the last entry is the total.
    var taskOffsets: [Int] { get }
    /// Truncation length T.
    var unroll: Int { get }

    /// θ₀ of every task, the loss and gradient there (step 0), the learned optimizer's state at rest.
    func initialState() -> UnrollState<Scalar>
    /// The same from each task's θ₀ as its `initialParameters()` returned it, in task order (a
    /// caller that checked θ₀ passes it on rather than draw it again).
    func initialState(startingAt starts: [[Float]]) -> UnrollState<Scalar>

    /// Swaps in new tasks of the same shapes (same dimensions and parameter groups, in order), so a
    /// new horizon reuses every buffer.
    func replaceTasks(_ tasks: [any Optimizee])

    /// Runs the learned optimizer forward only, for `steps` steps from `state`, calling `observe`
    /// after each step with the step index, every task's loss there and θ of every task (valid
    /// during the call only).
    func run(phi: UnsafeBufferPointer<Scalar>, state: inout UnrollState<Scalar>, steps: Int,
             observe: (_ step: Int, _ losses: [Scalar], _ theta: UnsafeBufferPointer<Scalar>) -> Void)

    /// One truncation of T steps from `state`, then the backward pass: `gradient` receives
    /// d(Σ_b Σ_t w_t f_b(θ_t))/dφ summed over the tasks (overwritten). Returns each task's unrolled
    /// loss; `state` advances by T steps.
    @discardableResult
    func truncation(phi: UnsafeBufferPointer<Scalar>, state: inout UnrollState<Scalar>, mode: MetaGradientMode,
                    gradient: UnsafeMutableBufferPointer<Scalar>) -> [Scalar]

    /// The engine's units of work (its column tiles, lane by lane), fixed by its tasks.
    var units: [WorkUnit] { get }
    /// The units this engine computes: all, unless sharded.
    var ownedUnits: Range<Int> { get }
    /// The coordinate ranges (in the flat θ, in order) that unit `u` updates.
    func coordinates(ofUnit u: Int) -> [Range<Int>]
    /// Restricts the engine to the units `owned` (forward and backward passes); after every forward
    /// step `exchange` receives θ with the owned units' coordinates up to date and fills in the
    /// rest (`CoordinateShard`).
    func shard(owning owned: Range<Int>, exchange: @escaping (UnsafeMutablePointer<Scalar>) -> Void)
    /// The number of parts `truncation(phi:state:mode:unitGradients:)` writes for `mode`.
    func gradientUnitCount(mode: MetaGradientMode) -> Int
    /// A truncation whose meta-gradient comes in parts, one per owned unit (first order), each
    /// |φ| values, so that the parts can be summed exactly in any grouping.
    @discardableResult
    func truncation(phi: UnsafeBufferPointer<Scalar>, state: inout UnrollState<Scalar>, mode: MetaGradientMode,
                    unitGradients: UnsafeMutableBufferPointer<Scalar>) -> [Scalar]

    /// Puts the learned optimizer's recurrent state at rest (zero) for steps on given gradients
    /// (`step(phi:gradient:theta:)`), as at the start of a horizon.
    func resetRecurrentState()

    /// One step of the learned optimizer on parameters and gradients the caller holds, both laid
    /// out like `UnrollState.theta`: reads ∇f(θ_t) from `gradient`, adds the update to `theta` in
    /// place (θ_{t+1} = θ_t + scale · m(preprocess(∇f(θ_t)), s_t; φ)) and advances the recurrent
    /// state. The same arithmetic as a step of `run` with that gradient. `run` and `truncation`
    /// load states of their own, so they must not be interleaved with these steps.
    func step(phi: UnsafeBufferPointer<Scalar>, gradient: UnsafeBufferPointer<Scalar>,
              theta: UnsafeMutableBufferPointer<Scalar>)

    /// Bytes of every buffer the engine allocated.
    var allocatedBytes: Int { get }
    /// The same, from the engine's description of its memory (a check of `allocatedBytes`).
    var statedBytes: Int { get }
    /// The matrix products one unrolled step makes, one entry per distinct shape with its calls.
    var gemmShapes: [GEMMShape] { get }
    /// Per-phase timing; nil switches it off.
    var profile: EngineProfile? { get set }
    /// A fresh, zeroed profile with this engine's phases.
    func makeProfile() -> EngineProfile
}

extension MetaGradientEngine {
    /// The coordinates of task `b` in a flat vector laid out like `UnrollState.theta`.
    package func coordinates(ofTask b: Int) -> Range<Int> { taskOffsets[b]..<taskOffsets[b + 1] }
}
