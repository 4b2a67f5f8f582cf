import Foundation
import XCTest
@testable import MetaOpt

/// The task families' registry and `TaskSpec`'s storage, which checkpoints, optimizer files and
/// the configuration hash compared across ranks depend on.
final class TaskRegistryTests: XCTestCase {
    /// `TaskSpec` as it was before the registry (a closed enum with synthesized Codable), to
    /// compare bytes and descriptions with.
    private enum EnumTaskSpec: Codable, Equatable {
        case quadratic(dimension: Int)
        case image(ImageTaskSpec)
    }

    private let mlp = ImageTaskSpec(architecture: .mlp(MLPArchitecture(hiddenSizes: [20, 20], activation: .relu)),
                                    dataset: .mnist, directory: "data/mnist", split: .test, labelSubset: [3, 1], batchSize: 64)
    private let cnn = ImageTaskSpec(architecture: .cnn(CNNArchitecture(convolutionChannels: [4, 8], fullyConnectedSizes: [16])))

    private func pairs() -> [(TaskSpec, EnumTaskSpec)] {
        [(.quadratic(dimension: 10), .quadratic(dimension: 10)), (.quadratic(dimension: 0), .quadratic(dimension: 0)),
         (.image(mlp), .image(mlp)), (.image(cnn), .image(cnn))]
    }

    private func json(_ value: some Encodable, _ formatting: JSONEncoder.OutputFormatting) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    func testNamesAreUniqueAndIncludeThePapersFamilies() {
        let names = TaskRegistry.names
        XCTAssertEqual(Set(names).count, names.count, "\(names)")
        XCTAssertEqual(Array(names.prefix(3)), ["quadratic", "mlp", "cnn"])
        XCTAssertEqual(TaskSpec.names, names)
        for plugin in TaskRegistry.plugins {
            XCTAssertTrue(TaskRegistry.plugin(named: plugin.name) == plugin, plugin.name)
            XCTAssertFalse(plugin.options.isEmpty, plugin.name)
            // Every option a family reads is a run-settings key, so config.json can hold it.
            for option in plugin.options { XCTAssertNotNil(RunSettings.kinds[option], "\(plugin.name): \(option)") }
        }
        XCTAssertNil(TaskRegistry.plugin(named: "image"))
    }

    func testSpecsEncodeToTheBytesOfTheEarlierEnum() throws {
        for (spec, old) in pairs() {
            // Sorted keys: without, the order of an object's keys differs from one encoding to the next.
            for formatting: JSONEncoder.OutputFormatting in [[.sortedKeys], [.sortedKeys, .prettyPrinted]] {
                XCTAssertEqual(try json(spec, formatting), try json(old, formatting))
            }
        }
        XCTAssertEqual(try json(TaskSpec.quadratic(dimension: 10), [.sortedKeys]), #"{"quadratic":{"dimension":10}}"#)
    }

    func testEarlierFilesDecode() throws {
        for (spec, old) in pairs() {
            let data = try JSONEncoder().encode(old)
            XCTAssertEqual(try JSONDecoder().decode(TaskSpec.self, from: data), spec)
        }
        let stored = #"{"image":{"_0":{"architecture":{"cnn":{"_0":{"convolutionChannels":[8,8,8],"fullyConnectedSizes":[32],"initialization":{"fanIn":{}}}}},"batchSize":128,"dataset":"fashion-mnist","split":"train"}}}"#
        let decoded = try JSONDecoder().decode(TaskSpec.self, from: Data(stored.utf8))
        XCTAssertEqual(decoded, .image(ImageTaskSpec(architecture: .cnn(CNNArchitecture()))))
        XCTAssertEqual(decoded.name, "cnn")
        XCTAssertEqual(decoded.optimizerCount, 2)
        for bad in [#"{"hexagon":{"dimension":3}}"#, #"{}"#, #"{"quadratic":{"dimension":3},"image":{}}"#] {
            XCTAssertThrowsError(try JSONDecoder().decode(TaskSpec.self, from: Data(bad.utf8)), bad)
        }
    }

    func testEveryFamilyRoundTripsThroughJSON() throws {
        for plugin in TaskRegistry.plugins {
            let spec = TaskSpec(try plugin.init(arguments: TaskArguments()))
            XCTAssertEqual(spec.name, plugin.name)
            let decoded = try JSONDecoder().decode(TaskSpec.self, from: try JSONEncoder().encode(spec))
            XCTAssertEqual(decoded, spec, plugin.name)
            XCTAssertEqual(decoded.name, plugin.name)
            XCTAssertTrue(spec.problems().isEmpty, "\(plugin.name): \(spec.problems())")
            XCTAssertEqual(spec.defaultOptimizer.optimizerCount, plugin.optimizerCount, plugin.name)
            // The run settings name every option the family reads, so config.json reruns the task.
            XCTAssertEqual(Set(spec.settings.runSettingsValues.map(\.key)), Set(plugin.options), plugin.name)
        }
    }

    func testEqualityAndDescription() {
        XCTAssertEqual("\(TaskSpec.quadratic(dimension: 10))", "\(EnumTaskSpec.quadratic(dimension: 10))")
        XCTAssertEqual("\(TaskSpec.quadratic(dimension: 10))", "quadratic(dimension: 10)")
        // Image tasks by their options and split (report.json's `task`), no longer by the earlier
        // enum's dump of Swift values.
        XCTAssertEqual("\(TaskSpec.image(mlp))",
                       "mlp(hidden-layers: 20,20, activation: relu, dataset: mnist, data-dir: data/mnist, labels: 3,1, minibatch: 64, split: test)")
        XCTAssertEqual("\(TaskSpec.image(cnn))", "cnn(conv-channels: 4,8, fc-layers: 16, dataset: fashion-mnist, minibatch: 128, split: train)")
        // A value that could be read as several is quoted.
        var odd = mlp
        odd.directory = "fm, x: (1)"
        XCTAssertEqual("\(TaskSpec.image(odd))",
                       "mlp(hidden-layers: 20,20, activation: relu, dataset: mnist, data-dir: \"fm, x: (1)\", labels: 3,1, minibatch: 64, split: test)")
        XCTAssertNotEqual(TaskSpec.quadratic(dimension: 10), .quadratic(dimension: 11))
        XCTAssertNotEqual(TaskSpec.image(mlp), .image(cnn))
        XCTAssertNotEqual(TaskSpec.image(mlp), .quadratic(dimension: 10))
        XCTAssertEqual(TaskSpec.image(mlp).onSplit(.train), .image({ var s = mlp; s.split = .train; return s }()))
        XCTAssertEqual(TaskSpec.quadratic(dimension: 3).onSplit(.test), .quadratic(dimension: 3))
    }

    func testDefaultsAndCapabilitiesPerFamily() {
        let quadratic = TaskSpec.quadratic(dimension: 10)
        XCTAssertEqual(quadratic.defaultOptimizer, LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .raw, outputScale: 1))
        XCTAssertEqual([quadratic.defaultBlockSize, quadratic.defaultMetaBatch, quadratic.defaultIterations], [16, 128, 4000])
        XCTAssertEqual(quadratic.defaultLearningRate, 3e-3)
        XCTAssertTrue(quadratic.supportsSecondOrder)
        XCTAssertFalse(quadratic.hasDataSplit)
        for (spec, count) in [(TaskSpec.image(mlp), 1), (.image(cnn), 2)] {
            XCTAssertEqual(spec.defaultOptimizer, LearnedOptimizerConfig(hiddenSizes: [20, 20], preprocessing: .logAndSign(p: 10),
                                                                         outputScale: 0.1, optimizerCount: count))
            XCTAssertEqual([spec.defaultBlockSize, spec.defaultMetaBatch, spec.defaultIterations], [1, 8, 1000])
            XCTAssertEqual(spec.defaultLearningRate, 1e-3)
            XCTAssertFalse(spec.supportsSecondOrder)
            XCTAssertTrue(spec.hasDataSplit)
        }
        XCTAssertEqual(QuadraticFamily().optimizerCount, QuadraticTask.optimizerCount)
    }

    func testArgumentsReachTheFamily() throws {
        let arguments = TaskArguments(dimension: 7, hiddenLayers: "40, 20", activation: .relu, convChannels: "4",
                                      fcLayers: "8,8", dataset: .cifar10, dataDirectory: "d", labels: [1, 2], minibatch: 5)
        XCTAssertEqual(try TaskSpec.parse(name: "quadratic", arguments: arguments), .quadratic(dimension: 7))
        XCTAssertEqual(try TaskSpec.parse(name: "mlp", arguments: arguments),
                       .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture(hiddenSizes: [40, 20], activation: .relu)),
                                            dataset: .cifar10, directory: "d", labelSubset: [1, 2], batchSize: 5)))
        XCTAssertEqual(try TaskSpec.parse(name: "cnn", arguments: arguments),
                       .image(ImageTaskSpec(architecture: .cnn(CNNArchitecture(convolutionChannels: [4], fullyConnectedSizes: [8, 8])),
                                            dataset: .cifar10, directory: "d", labelSubset: [1, 2], batchSize: 5)))
        // A malformed option of another family is not read.
        var other = arguments
        other.hiddenLayers = "x"
        XCTAssertEqual(try TaskSpec.parse(name: "quadratic", arguments: other), .quadratic(dimension: 7))
        XCTAssertThrowsError(try TaskSpec.parse(name: "mlp", arguments: other)) {
            XCTAssertEqual(($0 as? TaskArgumentError)?.description, "--hidden-layers must be comma-separated whole numbers (got 'x')")
        }
        XCTAssertThrowsError(try TaskSpec.parse(name: "hexagon", arguments: arguments)) {
            XCTAssertTrue(($0 as? TaskArgumentError)?.description.hasPrefix("unknown task 'hexagon'") == true, "\($0)")
        }
    }

    /// Fashion-MNIST's standard location named with --data-dir, in any spelling, is stored as
    /// none (config.json's documented null), so that a resume naming it is the same run; another
    /// directory, or the same path for another data set, is kept.
    func testTheStandardDataLocationIsStoredAsNone() throws {
        for spelling in ["/usr/share/datasets/fashion-mnist", "/usr/share/datasets/fashion-mnist/", "/usr/share//datasets/./fashion-mnist"] {
            let spec = try TaskSpec.parse(name: "mlp", arguments: TaskArguments(dataDirectory: spelling))
            XCTAssertEqual(spec, try TaskSpec.parse(name: "mlp", arguments: TaskArguments()), spelling)
        }
        // A ".." is kept: after a link it names the link target's parent, not the text's.
        let up = "/usr/share/datasets/fashion-mnist/link/.."
        XCTAssertEqual(try TaskSpec.parse(name: "mlp", arguments: TaskArguments(dataDirectory: up)),
                       .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()), directory: up)))
        XCTAssertEqual(try TaskSpec.parse(name: "mlp", arguments: TaskArguments(dataDirectory: "/srv/fashion-mnist")),
                       .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()), directory: "/srv/fashion-mnist")))
        XCTAssertEqual(try TaskSpec.parse(name: "mlp", arguments: TaskArguments(dataset: .mnist, dataDirectory: "/usr/share/datasets/fashion-mnist")),
                       .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()), dataset: .mnist, directory: "/usr/share/datasets/fashion-mnist")))
        // Checkpoints and files of earlier versions stored it as given: read as none, so that
        // their runs resume (they were refused as another configuration).
        let earlier = ImageTaskSpec(architecture: .mlp(MLPArchitecture()), directory: "/usr/share/datasets/fashion-mnist/")
        let config = TrainingConfig(task: .image(earlier))
        let decoded = try JSONDecoder().decode(TrainingConfig.self, from: try JSONEncoder().encode(config))
        XCTAssertEqual(decoded.task, try TaskSpec.parse(name: "mlp", arguments: TaskArguments()))
        XCTAssertEqual(TrainerCheckpoint.compatibilityProblems(saved: decoded, current: TrainingConfig(task: .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()))))), [])
        // Any other directory is written one way too: a resume with "/tmp/mn" of a run started with
        // "/tmp/mn/" was refused as another configuration (65, which restart.sh does not retry).
        for (spelling, stored) in [("/tmp/mn/", "/tmp/mn"), ("/tmp//mn/./", "/tmp/mn"), ("data/", "data"), ("./data", "data"), ("./", ".")] {
            XCTAssertEqual(try TaskSpec.parse(name: "mlp", arguments: TaskArguments(dataset: .mnist, dataDirectory: spelling)),
                           .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()), dataset: .mnist, directory: stored)), spelling)
        }
    }

    func testHelpDefaultsGroupFamilies() {
        // Families with the same default share one entry, in registry order.
        let metaBatch = TaskRegistry.describeDefaults { "\($0.metaBatch)" }
        XCTAssertTrue(metaBatch.hasPrefix("128 for quadratic") && metaBatch.contains(", 8 for mlp and cnn"), metaBatch)
        XCTAssertEqual(TaskRegistry.listed(["a"]), "a")
        XCTAssertEqual(TaskRegistry.listed(["a", "b", "c"]), "a, b and c")
    }
}
