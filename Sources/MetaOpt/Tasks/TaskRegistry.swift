/// The task families `--task` offers, in the order help texts list them.
package enum TaskRegistry {
    /// Every family; a new family adds its line here.
    package static let plugins: [any TaskPlugin.Type] = [
        QuadraticTask.self,
        MLPTask.self,
        CNNTask.self,
        RosenbrockTask.self,
        MixtureTask.self,
    ]

    /// The families' `--task` names.
    package static var names: [String] { plugins.map { $0.name } }

    /// The family called `name`, if any.
    package static func plugin(named name: String) -> (any TaskPlugin.Type)? {
        plugins.first { $0.name == name }
    }

    /// The names of the families that read command-line option `option` ("dimension").
    package static func names(using option: String) -> [String] {
        plugins.filter { $0.options.contains(option) }.map { $0.name }
    }

    /// "A for quadratic, B for mlp and cnn": a default per family, for help texts.
    package static func describeDefaults(_ value: (TaskDefaults) -> String) -> String {
        var groups: [(value: String, names: [String])] = []
        for plugin in plugins {
            let v = value(plugin.defaults)
            if let i = groups.firstIndex(where: { $0.value == v }) { groups[i].names.append(plugin.name) }
            else { groups.append((v, [plugin.name])) }
        }
        return groups.map { "\($0.value) for \(listed($0.names))" }.joined(separator: ", ")
    }

    /// "a", "a and b", "a, b and c".
    static func listed(_ names: [String]) -> String {
        names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}
