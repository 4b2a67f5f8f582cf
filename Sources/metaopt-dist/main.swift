import ArgumentParser
import MetaOpt

struct MetaOptDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metaopt-dist",
        abstract: "Distributed meta-training of a learned LSTM optimizer (Andrychowicz et al., 2016) on MPI.",
        version: "0.1.0")
    func run() throws { print("metaopt-dist skeleton") }
}
MetaOptDist.main()
