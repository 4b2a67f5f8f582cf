/// Why a run stopped on its own.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration([String])
    /// `differences`: how this rank's settings differ from rank 0's ("--learning-rate 0.01 here,
    /// 0.003 on rank 0"); empty on a rank that agrees with rank 0 while another does not.
    case configurationDiffersAcrossRanks(differences: [String])
    case dataDiffersAcrossRanks
    case tooManySkips(consecutive: Int, iteration: Int)
    case ranksDiverged(iteration: Int)
    case injectedFault(iteration: Int, rank: Int)
    /// `step()` after the configured meta-steps (`finished`): it would train φ past the run's end.
    case alreadyFinished(iterations: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let p): return "invalid configuration: " + p.joined(separator: "; ")
        case .configurationDiffersAcrossRanks(let differences):
            return "the ranks were started with different configurations (check that every rank got the same arguments)"
                + (differences.isEmpty ? "; the ranks that differ from rank 0 say how" : ": " + differences.joined(separator: "; "))
        case .dataDiffersAcrossRanks:
            return "the ranks read different data: the data set's files differ between hosts (give every host the same copy)"
        case .tooManySkips(let n, let it):
            return "\(n) consecutive meta-steps had a non-finite loss or meta-gradient, or an Adam step past Float's range (last at iteration \(it)); stopping (a smaller learning rate or output scale, or a clipping norm, may help: --learning-rate, --output-scale, --clip-norm; TrainingConfig's learningRate, optimizer.outputScale, clipNorm)"
        case .ranksDiverged(let it):
            return "φ differs between ranks at iteration \(it) (consistency check); stopping"
        case .injectedFault(let it, let r): return "injected fault at iteration \(it) on rank \(r)"
        case .alreadyFinished(let n):
            return "the run has taken its \(n) meta-steps (finished is true); raise the configuration's iterations to train on"
        }
    }
}
