/// The shape the engines rely on in every `Optimizee`: θ₀ with `dimension` values and parameter
/// groups that tile 0..<dimension in order. The built-in optimizees have it by construction; one of
/// your own that lacks it would make the engines trap (θ₀ of the wrong length), read and write
/// outside θ (a group past the end) or update coordinates twice or never (overlaps and gaps), so
/// `LearnedOptimizer.run` and `MetaTrainer` check it before an engine sees the function.
extension Optimizee {
    /// Why θ₀ or `parameterGroups` do not fit `dimension`, in words (nil: they do). `start` is θ₀
    /// as `initialParameters()` returned it: a caller that goes on to start from it checks that
    /// one, rather than draw θ₀ twice (an MLP's or CNN's is drawn from the random stream).
    package func shapeProblem(start: [Float]) -> String? {
        guard start.count == dimension else { return "dimension is \(dimension) but initialParameters() has \(start.count) values" }
        return parameterGroupProblem
    }

    /// Why `parameterGroups` do not tile 0..<dimension in order (nil: they do). Empty groups are
    /// allowed where they keep the order (the engines skip them).
    package var parameterGroupProblem: String? {
        let groups = parameterGroups
        // Each group starts where the previous one ended, and the last ends at dimension.
        let tiled = zip([0] + groups.map(\.range.upperBound), groups).allSatisfy { $0 == $1.range.lowerBound }
            && (groups.last?.range.upperBound ?? 0) == dimension
        guard !tiled else { return nil }
        let ranges = groups.map { "\($0.range.lowerBound)..<\($0.range.upperBound)" }.joined(separator: ", ")
        return "its parameter groups [\(ranges)] do not tile 0..<\(dimension) in order"
    }
}
