import ArgumentParser

/// Placeholder for meta-training; replaced by the real implementation.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Meta-train the learned optimizer (not implemented yet).")

    @OptionGroup var runOptions: RunOptions

    func run() throws {
        print("train: not implemented yet")
    }
}
