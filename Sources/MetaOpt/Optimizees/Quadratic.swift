/// The paper's quadratic family: f(θ) = ‖Wθ − y‖², with W (n × n), y and θ₀ i.i.d. standard
/// normal (n = 10 in the paper). Deterministic: `step` is ignored.
public struct QuadraticOptimizee: SecondOrderOptimizee, DoubleEvaluatedOptimizee, Sendable {
    public let dimension: Int
    /// W, row-major n × n.
    public let w: [Double]
    public let y: [Double]
    public let theta0: [Float]

    public init(dimension n: Int, key: RandomKey) {
        var s = key.stream(.function)
        dimension = n
        w = (0..<(n * n)).map { _ in s.normal() }
        y = (0..<n).map { _ in s.normal() }
        var s0 = key.stream(.initialParameters)
        theta0 = (0..<n).map { _ in Float(s0.normal()) }
    }

    public func initialParameters() -> [Float] { theta0 }

    /// Residual r = Wθ − y, loss ‖r‖², gradient 2Wᵀr; computed in Double whatever the input type.
    @inline(__always)
    func lossAndGradient(reading theta: (Int) -> Double, writing write: (Int, Double) -> Void) -> Double {
        let n = dimension
        // A stack buffer: this runs once per task and step, so it must not allocate.
        // Unchecked buffers and index arithmetic: the indices are in range by construction, and
        // the checks cost a third of this function's time. θ is read once into the buffer: called
        // through `any Optimizee` the closures are not inlined, and n² calls of `theta` took
        // most of the time.
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * n) { buffer in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeBufferPointer { yp in
                    let r = buffer.baseAddress!, x = r + n
                    for j in 0..<n { x[j] = theta(j) }
                    return quadraticLossAndGradient(dimension: n, w: wp.baseAddress!, y: yp.baseAddress!, x: x,
                                                    residual: r, writing: write)
                }
            }
        }
    }

    /// H = 2WᵀW, independent of θ.
    public func hessianVectorProduct(at theta: UnsafeBufferPointer<Float>, step: Int,
                                     vector: UnsafeBufferPointer<Double>, result: UnsafeMutableBufferPointer<Double>) {
        let n = dimension
        var wv = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            for j in 0..<n { s += w[i * n + j] * vector[j] }
            wv[i] = s
        }
        for j in 0..<n {
            var s = 0.0
            for i in 0..<n { s += w[i * n + j] * wv[i] }
            result[j] = 2 * s
        }
    }
}

extension QuadraticOptimizee: BatchEvaluatedOptimizee {
    static func makeBatch(_ tasks: [QuadraticOptimizee]) -> (any OptimizeeBatch)? {
        guard let n = tasks.first?.dimension, tasks.allSatisfy({ $0.dimension == n }) else { return nil }
        return QuadraticBatch(tasks)
    }
}

/// Quadratics of one dimension n, eight at a time in the lanes of a `SIMD8<Double>`: W and y
/// packed lane by task once, then per step `quadraticLossAndGradient`, the function that
/// `QuadraticOptimizee.lossAndGradient(reading:writing:)` runs too, so every lane gives that
/// function's bits. θ and ∇f pass through lane-major scratch (scalar lane accesses of a SIMD
/// value cost twice the whole step). 128 ten-dimensional quadratics: 16 µs per step one by one
/// through `any Optimizee`, 6 µs as one batch.
///
/// Above `packedRemainderDimension` the tasks past the last full group run one by one: a group
/// of one task in eight lanes held and read 8n² Doubles for n² of work (`--meta-batch 1` at n =
/// 10,000: 6.4 GB and 37 s per meta-step, where one by one reads W's 0.8 GB).
struct QuadraticBatch: OptimizeeBatch {
    typealias Lanes = SIMD8<Double>
    /// Up to this dimension a partial group is packed as well (its padding is a few kB, and a
    /// group is faster than calls one by one there).
    static let packedRemainderDimension = 64
    let dimension: Int
    /// The tasks in groups: the first `count` of the batch.
    let count: Int
    /// The tasks after them, evaluated one by one.
    private let rest: [QuadraticOptimizee]
    /// W of group g (tasks 8g..<8g+8), element (i, j) at [g·n² + i·n + j]; absent tasks are zero.
    private let w: [Lanes]
    /// y of group g, element i at [g·n + i].
    private let y: [Lanes]

    init(_ tasks: [QuadraticOptimizee]) {
        let n = tasks[0].dimension
        dimension = n
        count = n <= Self.packedRemainderDimension ? tasks.count : tasks.count / Lanes.scalarCount * Lanes.scalarCount
        rest = Array(tasks[count...])
        let groups = (count + Lanes.scalarCount - 1) / Lanes.scalarCount
        var w = [Lanes](repeating: .zero, count: groups * n * n)
        var y = [Lanes](repeating: .zero, count: groups * n)
        for (b, task) in tasks.prefix(count).enumerated() {
            let g = b / Lanes.scalarCount, lane = b % Lanes.scalarCount
            for e in 0..<(n * n) { w[g * n * n + e][lane] = task.w[e] }
            for i in 0..<n { y[g * n + i][lane] = task.y[i] }
        }
        self.w = w
        self.y = y
    }

    func lossesAndGradients(theta: UnsafePointer<Float>, step: Int, gradient: UnsafeMutablePointer<Float>,
                            losses: UnsafeMutablePointer<Float>) {
        let n = dimension, lanes = Lanes.scalarCount
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 3 * n) { buffer in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeBufferPointer { yp in
                    let r = buffer.baseAddress!, x = r + n, out = x + n
                    let xs = UnsafeMutableRawPointer(x).assumingMemoryBound(to: Double.self)
                    let os = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Double.self)
                    for g in 0..<((count + lanes - 1) / lanes) {
                        let first = g &* lanes, present = min(lanes, count &- first)
                        let wg = wp.baseAddress! + g &* n &* n, yg = yp.baseAddress! + g &* n
                        if present < lanes { x.update(repeating: .zero, count: n) }
                        for l in 0..<present {
                            let t = theta + (first &+ l) &* n
                            for j in 0..<n { xs[j &* lanes &+ l] = Double(t[j]) }
                        }
                        let loss = quadraticLossAndGradient(dimension: n, w: wg, y: yg, x: x, residual: r) { j, g in
                            out[j] = g
                        }
                        for l in 0..<present {
                            let gr = gradient + (first &+ l) &* n
                            for j in 0..<n { gr[j] = Float(os[j &* lanes &+ l]) }
                            losses[first &+ l] = Float(loss[l])
                        }
                    }
                }
            }
        }
        for (k, task) in rest.enumerated() {
            let offset = (count &+ k) &* n
            losses[count &+ k] = task.lossAndGradient(at: UnsafeBufferPointer(start: theta + offset, count: n), step: step,
                                                      gradient: UnsafeMutableBufferPointer(start: gradient + offset, count: n))
        }
    }
}

/// Values the quadratic's arithmetic runs on: one function's (`Double`) or eight functions' in
/// the lanes of a `SIMD8<Double>` (`QuadraticBatch`).
protocol QuadraticArithmetic {
    static var zero: Self { get }
    static func + (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func += (a: inout Self, b: Self)
    static prefix func - (a: Self) -> Self
}

extension Double: QuadraticArithmetic {}
extension SIMD8<Double>: QuadraticArithmetic {}

/// r = Wθ − y (into `residual`), returns ‖r‖² and passes ∂f/∂θⱼ = 2 (Wᵀr)ⱼ to `write`, with W
/// row-major n × n and θ in `x`: written once for a function and for a batch of them, so that
/// both compute the same operations in the same order (a multiply, then an add; never fused),
/// hence the same bits in every lane.
@inline(__always)
func quadraticLossAndGradient<V: QuadraticArithmetic>(dimension n: Int, w: UnsafePointer<V>, y: UnsafePointer<V>,
                                                      x: UnsafePointer<V>, residual r: UnsafeMutablePointer<V>,
                                                      writing write: (Int, V) -> Void) -> V {
    var loss = V.zero
    for i in 0..<n {
        var s = -y[i]
        let row = w + i &* n
        for j in 0..<n { s += row[j] * x[j] }
        r[i] = s
        loss += s * s
    }
    for j in 0..<n {
        var g = V.zero
        for i in 0..<n { g += w[i &* n &+ j] * r[i] }
        write(j, g + g)  // 2g, exactly
    }
    return loss
}

/// Samples `QuadraticOptimizee`s of a given dimension.
public struct QuadraticFamily: TaskFamily {
    public let dimension: Int
    public init(dimension: Int = 10) {
        precondition(dimension > 0)
        self.dimension = dimension
    }
    public var name: String { "quadratic" }
    public var optimizerCount: Int { QuadraticTask.optimizerCount }
    public func sample(_ key: RandomKey) -> any Optimizee { QuadraticOptimizee(dimension: dimension, key: key) }
}
