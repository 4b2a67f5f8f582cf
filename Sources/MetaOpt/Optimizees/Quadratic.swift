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
                    let w = wp.baseAddress!, y = yp.baseAddress!, r = buffer.baseAddress!, x = r + n
                    for j in 0..<n { x[j] = theta(j) }
                    var loss = 0.0
                    for i in 0..<n {
                        var s = -y[i]
                        let row = w + i &* n
                        for j in 0..<n { s += row[j] * x[j] }
                        r[i] = s
                        loss += s * s
                    }
                    for j in 0..<n {
                        var g = 0.0
                        for i in 0..<n { g += w[i &* n &+ j] * r[i] }
                        write(j, 2 * g)
                    }
                    return loss
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
