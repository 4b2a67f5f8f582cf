/// The range [lower, upper] of ln c for the random factors c of the meta-training augmentations
/// (`TaskAugmentation`).
public struct LogScaleRange: Codable, Equatable, Sendable {
    public var lower: Double
    public var upper: Double

    public init(lower: Double, upper: Double) {
        self.lower = lower
        self.upper = upper
    }

    /// [−a, a]: factors from e^−a to e^a, as likely to shrink a coordinate as to stretch it.
    public init(symmetric a: Double) { self.init(lower: -a, upper: a) }

    /// "A" (A > 0) is [−A, A]; "LO,HI" is [LO, HI]; nil for anything else.
    public init?(parsing text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { Double($0.trimmingCharacters(in: .whitespaces)) }
        switch parts.count {
        case 1:
            guard let a = parts[0], a > 0 else { return nil }
            self.init(symmetric: a)
        case 2:
            guard let lower = parts[0], let upper = parts[1] else { return nil }
            self.init(lower: lower, upper: upper)
        default:
            return nil
        }
    }

    /// What is wrong with the range, if anything.
    public var problem: String? {
        guard lower.isFinite && upper.isFinite else { return "the range of log-factors must be finite (got \(lower)…\(upper))" }
        guard lower < upper else { return "the range of log-factors must have lower < upper (got \(lower)…\(upper))" }
        guard max(-lower, upper) <= 20 else { return "the range of log-factors must lie within [−20, 20] (factors e^±20)" }
        return nil
    }
}
