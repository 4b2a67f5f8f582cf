/// The shape the engines rely on in every `Optimizee`: θ₀ with `dimension` values, parameter
/// groups that tile 0..<dimension in order, and named tensors (if any) within it. The built-in
/// optimizees have it by construction; one of your own that lacks it would make the engines trap
/// (θ₀ of the wrong length), read and write outside θ (a group past the end) or update
/// coordinates twice or never (overlaps and gaps), so `LearnedOptimizer.run` and `MetaTrainer`
/// check it before an engine sees the function.
extension Optimizee {
    /// What does not fit `dimension`: θ₀, `parameterGroups` or named tensors (nil: all fit).
    /// `start` is θ₀ as `initialParameters()` returned it: a caller that goes on to start from it
    /// checks that one, rather than draw θ₀ twice (an MLP's or CNN's is drawn from the random
    /// stream).
    package func shapeProblem(start: [Float]) -> OptimizeeShapeProblem? {
        guard start.count == dimension else { return .startLength(dimension: dimension, values: start.count) }
        let groups = parameterGroups
        // Each group starts where the previous one ended, and the last ends at dimension. Empty
        // groups are allowed where they keep the order (the engines skip them).
        let tiled = zip([0] + groups.map(\.range.upperBound), groups).allSatisfy { $0 == $1.range.lowerBound }
            && (groups.last?.range.upperBound ?? 0) == dimension
        guard tiled else { return .parameterGroups(groups.map(\.range), dimension: dimension) }
        // Named tensors (per-tensor initial scaling, layer reports) index θ too, also those of a
        // function under augmentations' wrappers.
        var optimizee: any Optimizee = self
        while true {
            if let named = optimizee as? any TensorNamedOptimizee, !NamedTensor.allFit(named.tensors, dimension: dimension) {
                return .tensors(named.tensors.map(\.range), dimension: dimension)
            }
            guard let wrapper = optimizee as? any WrappingOptimizee else { return nil }
            optimizee = wrapper.base
        }
    }
}

/// Why an optimizee does not have the shape the engines rely on (`Optimizee.shapeProblem(start:)`);
/// its description says it in words.
package enum OptimizeeShapeProblem: Equatable, CustomStringConvertible {
    /// θ₀ has `values` values instead of `dimension`.
    case startLength(dimension: Int, values: Int)
    /// The groups' ranges do not tile 0..<dimension in order.
    case parameterGroups([Range<Int>], dimension: Int)
    /// A named tensor lies outside 0..<dimension (`TensorNamedOptimizee.tensors`).
    case tensors([Range<Int>], dimension: Int)

    package var description: String {
        switch self {
        case let .startLength(dimension, values):
            return "dimension is \(dimension) but initialParameters() has \(values) values"
        case let .parameterGroups(ranges, dimension):
            return "its parameter groups \(Self.list(ranges)) do not tile 0..<\(dimension) in order"
        case let .tensors(ranges, dimension):
            return "its named tensors \(Self.list(ranges)) do not lie within 0..<\(dimension)"
        }
    }

    /// "[0..<2, 4..<6]".
    private static func list(_ ranges: [Range<Int>]) -> String {
        "[" + ranges.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", ") + "]"
    }
}
