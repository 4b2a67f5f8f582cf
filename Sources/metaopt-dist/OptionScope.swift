import MetaOpt

/// Options that the run's task or architecture does not read are refused when given on the
/// command line of `train` or `evaluate` (`--labels` on quadratics, `--p` with raw preprocessing
/// used to be ignored silently). A recipe's or run file's values are not checked: run files written by train hold
/// only the options of their own task, and a recipe is a base that flags may redirect.
enum OptionScope {
    /// The long option names (without "--") on the command line, set by main before parsing.
    nonisolated(unsafe) static var givenOnCommandLine: Set<String> = []

    /// The long option names in `arguments`, up to a "--".
    static func longOptions(in arguments: [String]) -> Set<String> {
        var names: Set<String> = []
        for word in arguments.prefix(while: { $0 != "--" }) where word.hasPrefix("--") && word.count > 2 {
            names.insert(String(word.dropFirst(2).prefix { $0 != "=" }))
        }
        return names
    }

    /// The long names of every family's task options (`--dimension`, `--labels`, …).
    static var taskOptionNames: Set<String> { Set(TaskRegistry.plugins.flatMap { $0.options }) }

    /// One sentence per given option that this task and optimizer do not read. `commandLine`:
    /// the task of a family built from the command line's options alone (nil: not known), to
    /// find a mixture's options that every component reading them sets to its own value.
    static func problems(given: Set<String>, task: TaskSpec, optimizer: LearnedOptimizerConfig,
                         commandLine: ((String) -> TaskSpec?)? = nil) -> [String] {
        var problems: [String] = []
        let taskOptions = taskOptionNames
        // A mixture's components start from the command line's task options (`--data-dir` once
        // for all), so an option applies to it when one of its families reads it.
        let components = (task.settings as? MixtureTask)?.components ?? []
        let own = Set(([task.name] + components.map(\.task.name)).flatMap { TaskRegistry.plugin(named: $0)?.options ?? [] })
        for option in given.intersection(taskOptions).subtracting(own).sorted() {
            problems.append("--\(option) does not apply to task \(task.name) (it is read by \(TaskRegistry.names(using: option).joined(separator: ", "))); leave it out")
        }
        // ... and when one such component keeps the command line's value: a pair of each
        // (`mlp hidden-layers=40` with --hidden-layers 30) left the option unused.
        if let commandLine, !components.isEmpty {
            for option in given.intersection(taskOptions).intersection(own).sorted() {
                let readers = components.filter { TaskRegistry.plugin(named: $0.task.name)?.options.contains(option) == true }
                let kept = readers.isEmpty || readers.contains { component in
                    guard let base = commandLine(component.task.name) else { return true }
                    func value(_ spec: TaskSpec) -> RunSettings.Value? { spec.settings.runSettingsValues.first { $0.key == option }?.value }
                    return value(component.task) == value(base)
                }
                if !kept {
                    problems.append("--\(option) is set by every component of the mixture that reads it, so it would be ignored; leave it out")
                }
            }
        }
        if given.contains("p"), case .raw = optimizer.preprocessing {
            problems.append("--p does not apply to raw preprocessing (it is the constant of --preprocessing log-sign); leave it out")
        }
        return problems
    }
}
