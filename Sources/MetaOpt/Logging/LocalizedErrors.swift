import Foundation

// The library's errors as `LocalizedError`: `localizedDescription` (what a Swift program usually
// prints, and what an app shows) is the message `description` gives. Without it, Foundation says
// "The operation could not be completed. (MetaOpt.StepperError error 1.)" and names nothing.
// The command line prints the same text either way (`describe` in Bootstrap.swift).

extension OptimizerFileError: LocalizedError {
    public var errorDescription: String? { description }
}

extension StepperError: LocalizedError {
    public var errorDescription: String? { description }
}

extension TrainingError: LocalizedError {
    public var errorDescription: String? { description }
}

extension EvaluationError: LocalizedError {
    public var errorDescription: String? { description }
}

extension KernelPathError: LocalizedError {
    public var errorDescription: String? { description }
}

extension CommunicatorError: LocalizedError {
    public var errorDescription: String? { description }
}

extension DataError: LocalizedError {
    public var errorDescription: String? { description }
}

// Thrown through public API too (`OptimizerFile.write`, checkpoints).
extension CheckpointError: LocalizedError {
    package var errorDescription: String? { description }
}

extension ResultFileError: LocalizedError {
    package var errorDescription: String? { description }
}
