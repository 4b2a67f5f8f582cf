extension MetaScalar {
    /// f(θ) and ∇f(θ) of `optimizee` in this scalar type: `Float` calls the optimizee's own
    /// routine; `Double` calls its Double routine (exact for families that provide one).
    static func evaluate(_ optimizee: any Optimizee, theta: UnsafeBufferPointer<Self>, step: Int,
                         gradient: UnsafeMutableBufferPointer<Self>) -> Self {
        if Self.self == Float.self {
            return theta.withMemoryRebound(to: Float.self) { t in
                gradient.withMemoryRebound(to: Float.self) { g in
                    Self(optimizee.lossAndGradient(at: t, step: step, gradient: g))
                }
            }
        }
        precondition(Self.self == Double.self, "unsupported scalar \(Self.self)")
        return theta.withMemoryRebound(to: Double.self) { t in
            gradient.withMemoryRebound(to: Double.self) { g in
                Self(optimizee.lossAndGradientInDouble(at: t, step: step, gradient: g))
            }
        }
    }
}
