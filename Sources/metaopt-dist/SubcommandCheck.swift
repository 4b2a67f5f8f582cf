import ArgumentParser
import MetaOpt

/// A first word that names no subcommand. `train` is the default subcommand, so argument-parser
/// handed `metaopt-dist evalute --optimizer f` to train and blamed the first option ("Unknown
/// option '--optimizer'"). No subcommand of the root takes a positional argument first (train
/// takes none), so a first word that is not an option can only be a mistyped subcommand.
enum SubcommandCheck {
    /// The message for `arguments` (the command line after the program name), or nil when its
    /// first word is an option or one of the subcommands `commands` configure, or `help` followed
    /// by one of them (`help frob` printed the root's help with status 0).
    static func problem(_ arguments: [String], commands: [CommandConfiguration]) -> String? {
        let names = commands.compactMap { $0.commandName }
        guard var first = arguments.first, !first.hasPrefix("-") else { return nil }
        if first == "help" {
            guard arguments.count > 1, !arguments[1].hasPrefix("-") else { return nil }
            first = arguments[1]
        }
        guard first != "help", !names.contains(first) else { return nil }
        let listed = commands.filter { $0.shouldDisplay }.compactMap { $0.commandName }
        let guess = Spelling.closest(to: first, among: names, maxDistance: 2).map { " (did you mean '\($0)'?)" } ?? ""
        return "unknown subcommand '\(first)'\(guess); the subcommands are \(listed.joined(separator: ", ")) (train when none is given)"
    }
}
