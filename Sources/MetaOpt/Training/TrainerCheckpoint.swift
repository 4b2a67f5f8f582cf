import Foundation

/// Converts between the trainer's state and a checkpoint file's contents.
///
/// The counters (`TrainerCounters`) go into the metadata through their `Codable` form: the
/// iteration is the checkpoint's `metaStep`, the skip counters go under `skipCounters`, every other
/// counter under `counters`, each by its property name (the layout earlier versions wrote, so
/// their checkpoints load). φ and the Adam moments are the tensors "phi", "adam.m" and "adam.v".
/// The notes hold the writing process's provenance (`Provenance.notes`), when given, and under
/// "trained-kernels" the paths that trained φ (`KernelHistory`).
package enum TrainerCheckpoint {
    /// The counters stored under the metadata's `skipCounters` rather than `counters`.
    static let skipCounterNames: Set<String> = ["skippedSteps", "consecutiveSkips"]
    /// The counter stored as the metadata's `metaStep`.
    static let metaStepName = "iteration"

    package static func make(_ state: TrainerState, config: TrainingConfig,
                             provenance: Provenance? = nil, trainedKernels: String? = nil) throws -> Checkpoint<TrainingConfig> {
        var all = try named(state.counters)
        all[metaStepName] = nil
        let metadata = CheckpointMetadata(
            metaStep: state.iteration, seed: config.seed, globalMetaBatchSize: config.metaBatch,
            configuration: config,
            skipCounters: all.filter { skipCounterNames.contains($0.key) },
            counters: all.filter { !skipCounterNames.contains($0.key) },
            notes: (provenance?.notes ?? [:]).merging(trainedKernels.map { [trainedKernelsNote: $0] } ?? [:]) { _, k in k })
        return Checkpoint(metadata: metadata, tensors: [
            "phi": .float32(state.phi),
            "adam.m": .float32(state.adam.firstMoment),
            "adam.v": .float32(state.adam.secondMoment),
        ])
    }

    /// The note with the kernel paths that trained the checkpoint's φ.
    static let trainedKernelsNote = "trained-kernels"

    /// The kernel paths that trained the checkpoint's φ: its "trained-kernels" note, or for a
    /// checkpoint written before that note, the writing process's "kernels"; nil when neither is there.
    package static func trainedKernels(of checkpoint: Checkpoint<TrainingConfig>) -> String? {
        let notes = checkpoint.metadata.notes
        return notes[trainedKernelsNote] ?? notes["kernels"]
    }

    package static func state(from checkpoint: Checkpoint<TrainingConfig>, source: String) throws -> TrainerState {
        let m = checkpoint.metadata
        // Sizes from a file are checked before anything is allocated from them.
        if let problem = (m.configuration.optimizer.problems() + m.configuration.limitProblems()).first {
            throw CheckpointResumeError(message: "\(source): the checkpoint's configuration is unusable: \(problem)")
        }
        // φ's size is bounded by the file's; the configuration's |φ| must equal it before a state
        // of that size is made.
        // A tensor missing or of another type names the file (and, through CheckpointResumeError,
        // ends with the status that tells restart.sh not to retry).
        func tensor(_ name: String) throws -> [Float] {
            do { return try checkpoint.float32(name) } catch {
                throw CheckpointResumeError(message: "\(source): \(error)")
            }
        }
        guard m.globalMetaBatchSize == m.configuration.metaBatch else {
            throw CheckpointResumeError(message: "\(source): the checkpoint states a meta-batch of \(m.globalMetaBatchSize), its configuration \(m.configuration.metaBatch)")
        }
        guard m.seed == m.configuration.seed else {
            throw CheckpointResumeError(message: "\(source): the checkpoint states seed \(m.seed), its configuration \(m.configuration.seed)")
        }
        // State of a build that keeps more (a newer one) would be dropped here, and the run go on
        // on another trajectory.
        let unknownTensors = checkpoint.tensors.keys.filter { !tensorNames.contains($0) }.sorted()
        guard unknownTensors.isEmpty else {
            throw CheckpointResumeError(message: "\(source): holds tensors this build of metaopt-dist does not know (\(unknownTensors.joined(separator: ", "))): written by a newer build? Resume with the build that wrote it")
        }
        let phi = try tensor("phi")
        let needed = m.configuration.optimizer.architecture.parameterCount
        guard phi.count == needed else {
            throw CheckpointResumeError(message: "\(source): φ has \(phi.count) values; the checkpoint's architecture needs \(needed)")
        }
        var state = TrainerState(config: m.configuration)
        // Checkpoints hold no optimizee state, so only a horizon boundary can be continued exactly.
        guard m.counters["truncation"] == 0 else {
            throw CheckpointResumeError(message: "\(source): the checkpoint was taken inside a horizon (truncation \(m.counters["truncation"].map(String.init) ?? "missing")); only checkpoints at horizon boundaries can be resumed")
        }
        let all = m.counters.merging(m.skipCounters) { counter, _ in counter }.merging([metaStepName: m.metaStep]) { _, step in step }
        state.counters = try counters(named: all, source: source)
        state.phi = phi
        state.adam.firstMoment = try tensor("adam.m")
        state.adam.secondMoment = try tensor("adam.v")
        let problems = state.problems(for: m.configuration)
        guard problems.isEmpty else {
            throw CheckpointResumeError(message: "\(source): " + problems.joined(separator: "; "))
        }
        return state
    }

    /// The counters by property name, through their `Codable` form.
    static func named(_ counters: TrainerCounters) throws -> [String: Int] {
        try JSONDecoder().decode([String: Int].self, from: JSONEncoder().encode(counters))
    }

    /// The counters from their names; a missing one, or one this build does not keep, is an error
    /// that names it.
    static func counters(named values: [String: Int], source: String) throws -> TrainerCounters {
        let counters: TrainerCounters
        do {
            counters = try JSONDecoder().decode(TrainerCounters.self, from: JSONEncoder().encode(values))
        } catch DecodingError.keyNotFound(let key, _) {
            throw CheckpointResumeError(message: "\(source): the checkpoint has no \"\(key.stringValue)\" counter")
        }
        let unknown = Set(values.keys).subtracting(try named(counters).keys).sorted()
        guard unknown.isEmpty else {
            throw CheckpointResumeError(message: "\(source): holds counters this build of metaopt-dist does not know (\(unknown.joined(separator: ", "))): written by a newer build? Resume with the build that wrote it")
        }
        return counters
    }

    /// The tensors a checkpoint holds: φ and Adam's two moments.
    static let tensorNames: Set<String> = ["phi", "adam.m", "adam.v"]

    /// What may change when a run resumes: the settings of the configuration that do not change
    /// the trajectory, and the options that are not part of the configuration at all.
    package static let changeableOnResume = "--iterations, --consistency-every and --max-skips, and the options that are not part of "
        + "the trajectory (--output, --checkpoint-every, --keep-checkpoints, --progress-every, --shards, "
        + "--collective-timeout, --max-memory and the logging options)"

    /// Whether a checkpoint written under `saved` can continue under `current`: everything that
    /// shapes the trajectory must match. Empty when it can; otherwise the message, naming every
    /// setting that differs with both values.
    package static func compatibilityProblems(saved: TrainingConfig, current: TrainingConfig) -> [String] {
        var a = saved, b = current
        // Settings that do not change the trajectory: the total count, how often the ranks compare
        // φ, and after how many non-finite steps in a row the run gives up.
        for c in [\TrainingConfig.iterations, \.maxConsecutiveSkips, \.consistencyCheckEvery] {
            a[keyPath: c] = 0
            b[keyPath: c] = 0
        }
        // Settings written two ways: a block size past the meta-batch is one block of all of it
        // (`functionsPerBlock`), and the --init-from file is the same however its path is spelled.
        a.blockSize = a.functionsPerBlock
        b.blockSize = b.functionsPerBlock
        if let x = a.initFrom, let y = b.initFrom, FilePaths.same(FilePaths.url(x), FilePaths.url(y)) {
            b.initFrom = x
        }
        guard a != b else { return [] }
        var problems = ["the checkpoint was written by a run with another configuration: "
                            + differences(saved: a, current: b).joined(separator: "; "),
                        "only \(changeableOnResume) may change on resume: give the checkpoint's values, or --no-resume to start over"]
        // A relative path is the same file only from the directory the run started in, which the
        // checkpoint does not record: a resume from elsewhere was refused without saying why.
        if let saved = a.initFrom, let given = b.initFrom, saved != given, !saved.hasPrefix("/") {
            problems.append("if the two paths name the same file: --init-from is compared as the path names a file from where this command runs, and the checkpoint's \(saved) is relative to the directory the run started in; run from there, or give the path that names that file from here")
        }
        return problems
    }

    /// "--learning-rate 0.01 here, 0.001 in the checkpoint" for every setting that differs, by the
    /// train command's option names (`TrainingConfig.runSettings`); should the options not show a
    /// difference, the encoded configurations' fields by their dotted keys.
    /// `elsewhere` names where `saved` comes from ("in the checkpoint", "on rank 0").
    static func differences(saved: TrainingConfig, current: TrainingConfig, elsewhere: String = "in the checkpoint") -> [String] {
        let here = current.runSettings, there = saved.runSettings
        func shown(_ value: RunSettings.Value?, _ kind: RunSettings.Kind, key: String) -> String {
            // No directory is Fashion-MNIST's standard location, which another spelling of it
            // (a "..", a link) is not taken for: the hosts may resolve it differently.
            if key == "data-dir", value ?? .null == .null { return "the standard location (\(FashionMNIST.defaultDirectory))" }
            guard let value, value != .null else { return "none" }
            return RunSettings.argumentText(value, kind) ?? value.json
        }
        // A validation seed that follows its run seed (the default) differs with it: the --seed
        // line says all.
        let seedsDerived = [saved, current].allSatisfy { config in
            config.validation.map { $0.seed == ValidationConfig.defaultSeed(trainingSeed: config.seed) } ?? true
        }
        let options = RunSettings.keys.compactMap { key, kind -> String? in
            guard (here[key] ?? .null) != (there[key] ?? .null) else { return nil }
            if key == "validation-seed" && seedsDerived && saved.seed != current.seed && saved.validation != nil && current.validation != nil {
                return nil
            }
            return "--\(key) \(shown(here[key], kind, key: key)) here, \(shown(there[key], kind, key: key)) \(elsewhere)"
        }
        if !options.isEmpty { return options }
        let (fieldsHere, fieldsThere) = (encodedFields(current), encodedFields(saved))
        return Set(fieldsHere.keys).union(fieldsThere.keys).sorted().compactMap { key in
            guard fieldsHere[key] != fieldsThere[key] else { return nil }
            return "\(key) \(fieldsHere[key] ?? "none") here, \(fieldsThere[key] ?? "none") \(elsewhere)"
        }
    }

    /// The configuration's encoded JSON as leaf values (JSON text) by dotted key ("task.quadratic.dimension").
    private static func encodedFields(_ config: TrainingConfig) -> [String: String] {
        guard let data = try? JSONEncoder.sorted.encode(config), let root = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        var fields: [String: String] = [:]
        func collect(_ value: Any, _ key: String) {
            if let object = value as? [String: Any], !object.isEmpty {
                for (name, child) in object { collect(child, key.isEmpty ? name : key + "." + name) }
            } else {
                let text = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
                fields[key] = text.map { String(decoding: $0, as: UTF8.self) } ?? "?"
            }
        }
        collect(root, "")
        return fields
    }
}
