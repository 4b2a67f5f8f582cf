import ArgumentParser
import Logging
import MetaOpt

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options every subcommand that runs a job shares (`@OptionGroup var runOptions: RunOptions`).
struct RunOptions: ParsableArguments {
    @Flag(name: [.customShort("v"), .long],
          help: "Log at debug level on every rank (stderr, lines prefixed with [rank R]). Without it rank 0 logs at info and the other ranks only warnings and errors.")
    var verbose = false

    @Option(name: .long,
            help: ArgumentHelp("Log level of rank 0 (the other ranks: see --verbose).",
                               valueName: Logger.Level.allCases.map(\.rawValue).joined(separator: "|")))
    var logLevel: Logger.Level?

    /// The level `rank` logs at under these options.
    func logLevel(rank: Int) -> Logger.Level {
        RankLogSettings.level(rank: rank, verbose: verbose, requested: logLevel)
    }
}
