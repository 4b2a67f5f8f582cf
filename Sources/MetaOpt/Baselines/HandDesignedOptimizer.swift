import Foundation

/// A hand-designed first-order optimizer: the baselines the learned optimizer is compared with
/// (paper, Section 3: SGD, NAG, RMSprop, ADAM).
///
/// Conforming types are value types holding their own per-coordinate state. Usage for one function:
/// `reset(dimension:)` once, then one `step(theta:gradient:)` per iteration with the gradient
/// evaluated at the current θ. All arithmetic is in `Float`, like the optimizee.
public protocol HandDesignedOptimizer: Sendable {
    /// Which baseline this is.
    var kind: BaselineKind { get }
    /// The step size α (the one hyperparameter that is tuned by grid search).
    var learningRate: Float { get set }
    /// The fixed hyperparameters other than the learning rate, by name, for the results files.
    var hyperparameters: [String: Float] { get }
    /// Forgets all state and sizes it for `dimension` coordinates (state starts at zero).
    mutating func reset(dimension: Int)
    /// One update of θ in place, given g = ∇f(θ) at the current θ. `theta.count` and
    /// `gradient.count` must equal the dimension passed to `reset(dimension:)`.
    mutating func step(theta: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>)
}

extension HandDesignedOptimizer {
    /// Convenience over arrays (tests, small problems).
    public mutating func step(theta: inout [Float], gradient: [Float]) {
        gradient.withUnsafeBufferPointer { g in
            theta.withUnsafeMutableBufferPointer { t in step(theta: t, gradient: g) }
        }
    }

    /// `step`'s check that θ and the gradient are equally long: a trap that names both lengths
    /// (fatalError, not precondition: an optimized build drops a precondition's message).
    func requireEqualLengths(theta: Int, gradient: Int) {
        if theta != gradient {
            fatalError("\(Self.self).step: theta has \(theta) values and gradient \(gradient); they must be equally long")
        }
    }
}

/// The baseline optimizers, by the names used on the command line and in result files.
public enum BaselineKind: String, CaseIterable, Codable, Sendable {
    case sgd
    case nag
    case rmsprop
    case adam

    /// Parses a name case-insensitively (surrounding whitespace ignored).
    /// - Throws: `BaselineError.unknownName` listing the valid names.
    public init(parsing name: String) throws {
        let key = name.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard let kind = BaselineKind(rawValue: key) else { throw BaselineError.unknownName(name) }
        self = kind
    }

    /// Parses a comma-separated list such as `"sgd,adam"`; `"all"` means every baseline and
    /// `"none"` no baseline, each on its own. Empty items are ignored; duplicates are removed
    /// keeping the first occurrence.
    /// - Throws: `BaselineError.unknownName` for a name that is no baseline,
    ///   `BaselineError.invalidList` for a list that names nothing or mixes all or none with others.
    public static func parseList(_ list: String) throws -> [BaselineKind] {
        let items = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let words = items.map { $0.lowercased() }
        if words == ["all"] { return allCases }
        if words == ["none"] { return [] }
        if items.isEmpty || words.contains("all") || words.contains("none") { throw BaselineError.invalidList(list) }
        var result: [BaselineKind] = []
        for item in items {
            let kind = try BaselineKind(parsing: item)
            if !result.contains(kind) { result.append(kind) }
        }
        return result
    }

    /// The name used in plots, tables and result files (the paper's spelling, except "Adam").
    public var displayName: String {
        switch self {
        case .sgd: return "SGD"
        case .nag: return "NAG"
        case .rmsprop: return "RMSprop"
        case .adam: return "Adam"
        }
    }

    /// A fresh optimizer of this kind with the documented default hyperparameters.
    public func make(learningRate: Float) -> any HandDesignedOptimizer {
        switch self {
        case .sgd: return SGD(learningRate: learningRate)
        case .nag: return NesterovMomentum(learningRate: learningRate)
        case .rmsprop: return RMSprop(learningRate: learningRate)
        case .adam: return Adam(learningRate: learningRate)
        }
    }
}

/// Errors about baseline optimizers.
public enum BaselineError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A name that is not one of `BaselineKind.allCases`.
    case unknownName(String)
    /// A list that names no baseline (empty), or names 'all' or 'none' beside others.
    case invalidList(String)

    public var description: String {
        let valid = BaselineKind.allCases.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .unknownName(let name):
            return "unknown baseline optimizer '\(name)'; valid names: \(valid)"
        case .invalidList(let list):
            return "the baseline list '\(list)' is not comma-separated names (\(valid)), 'all' or 'none'; 'all' and 'none' stand alone"
        }
    }

    public var errorDescription: String? { description }
}
