import XCTest
@testable import MetaOpt

/// Mixtures of task families (issue #19 items 1 and 2): the `--mixture` text, storage, the
/// per-block component draw, one optimizer for every component, per-block meta-loss
/// normalisation (checked against finite differences) and normalised validation scores.
final class MixtureTests: XCTestCase {
    func mixture(_ text: String, base: TaskArguments = TaskArguments()) throws -> MixtureTask {
        var arguments = base
        arguments.mixture = text
        return try MixtureTask(arguments: arguments)
    }

    func testTextNamesFamiliesOptionsAndWeights() throws {
        let mix = try mixture("quadratic; 2*rosenbrock dimension=4 ;0.5*mlp hidden-layers=20,20 activation=relu",
                              base: TaskArguments(dimension: 7, minibatch: 64))
        XCTAssertEqual(mix.components.map(\.weight), [1, 2, 0.5])
        XCTAssertEqual(mix.components[0].task, .quadratic(dimension: 7), "a component starts from the command line's options")
        XCTAssertEqual(mix.components[1].task, .rosenbrock(dimension: 4))
        XCTAssertEqual(mix.components[2].task,
                       .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture(hiddenSizes: [20, 20], activation: .relu)),
                                            batchSize: 64)))
        XCTAssertEqual(mix.text, "1*quadratic dimension=7; 2*rosenbrock dimension=4; "
                       + "0.5*mlp hidden-layers=20,20 activation=relu dataset=fashion-mnist minibatch=64")
        // The text with every option spelled out reads back as the same components from any base.
        XCTAssertEqual(try mixture(mix.text, base: TaskArguments(dimension: 3, minibatch: 5)), mix)
        XCTAssertEqual(mix.problems, [])
        let defaults = try MixtureTask(arguments: TaskArguments())
        XCTAssertEqual(defaults.components.map(\.task.name), ["quadratic", "mlp", "mlp", "mlp", "mlp", "cnn"])
    }

    func testMalformedTextIsRefusedWithItsReason() {
        func message(_ text: String?) -> String {
            var a = TaskArguments()
            a.mixture = text
            do { _ = try MixtureTask(arguments: a); return "" } catch { return error.description }
        }
        XCTAssertTrue(message(" ").contains("--mixture is empty"))
        XCTAssertEqual(message(nil), "", "no --mixture: the default mixture")
        XCTAssertTrue(message("quadratic;;mlp").contains("empty component"))
        XCTAssertTrue(message("hexagon").contains("unknown family 'hexagon'"))
        XCTAssertTrue(message("mix").contains("unknown family 'mix'"), "no nested mixtures")
        XCTAssertTrue(message("0*quadratic").contains("positive number"))
        XCTAssertTrue(message("quadratic activation=relu").contains("has no option 'activation'"))
        XCTAssertTrue(message("mlp activation=tanh").contains("activation must be one of"))
        XCTAssertTrue(message("quadratic dimension").contains("is not OPTION=VALUE"))
        XCTAssertEqual(try mixture("quadratic dimension=0").problems,
                       ["mixture component 1 (quadratic): the quadratic dimension must be positive (got 0)"])
        // An option twice in one component (the last won silently), weights whose sum is
        // infinite (the first component was never drawn), and a value the text cannot hold (a
        // --data-dir with a space: config.json's mixture read back as another, "internal error").
        XCTAssertEqual(message("quadratic dimension=5 dimension=6"), "--mixture: 'dimension' is given twice in the quadratic component; give it once")
        XCTAssertEqual(try mixture("1e308*quadratic; 1e308*rosenbrock").problems,
                       ["the mixture's weights must have a finite sum (got 1e+308 + 1e+308)"])
        XCTAssertEqual(try mixture("1e307*quadratic; 1e307*rosenbrock").problems, [])
        for directory in ["/data/fashion mnist", "/data/a;b"] {
            XCTAssertEqual(try mixture("mlp", base: TaskArguments(dataDirectory: directory)).problems,
                           ["mixture component 1 (mlp): its data-dir '\(directory)' holds a space or ';', which a mixture cannot hold (it is written as text); use a path without them, e.g. a symbolic link"])
        }
    }

    /// Stored as full TaskSpecs under "mix"; a configuration without normalisation encodes as
    /// before (no new key), so earlier files and config hashes keep their bytes.
    func testStorageRoundTripsAndLeavesOtherConfigurationsAlone() throws {
        let mix = TaskSpec(try mixture("quadratic; 3*rosenbrock"))
        let json = String(decoding: try JSONEncoder.sorted.encode(mix), as: UTF8.self)
        XCTAssertEqual(json, #"{"mix":{"components":[{"task":{"quadratic":{"dimension":10}},"weight":1},{"task":{"rosenbrock":{"dimension":10}},"weight":3}]}}"#)
        XCTAssertEqual(try JSONDecoder().decode(TaskSpec.self, from: Data(json.utf8)), mix)
        var config = TrainingConfig(task: mix, lossNormalization: .initialLoss)
        XCTAssertEqual(try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder.sorted.encode(config)), config)
        config = TrainingConfig(task: .quadratic(dimension: 10))
        XCTAssertFalse(String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self).contains("ormalization"))
        XCTAssertNil(config.runSettings["loss-normalization"])
        XCTAssertEqual(TrainingConfig(task: mix, lossNormalization: .initialLoss).runSettings["loss-normalization"],
                       .string("initial-loss"))
        XCTAssertEqual(TrainingConfig(task: mix).runSettings["mixture"], .string("1*quadratic dimension=10; 3*rosenbrock dimension=10"))
        // A mixture normalises by default on the command line, so "off" is written out.
        XCTAssertEqual(TrainingConfig(task: mix).runSettings["loss-normalization"], .string("none"))
    }

    /// Consecutive functions of one draw share a component; the draw follows the weights and is a
    /// function of the key alone.
    func testBlocksDrawOneComponentInProportionToTheWeights() throws {
        let family = MixtureFamily(components: [(1, QuadraticFamily(dimension: 3)), (3, RosenbrockFamily(dimension: 5))],
                                   functionsPerDraw: 4)
        var counts = [0, 0]
        for horizon in 0..<50 {
            for block in 0..<20 {
                let dims = (0..<4).map { family.sample(RandomKey(seed: 9, horizon: horizon, task: block * 4 + $0)).dimension }
                XCTAssertEqual(Set(dims).count, 1, "one family per block")
                counts[dims[0] == 3 ? 0 : 1] += 1
            }
        }
        XCTAssertEqual(Double(counts[1]) / 1000, 0.75, accuracy: 0.05, "\(counts)")
        let key = RandomKey(seed: 9, horizon: 3, task: 17)
        XCTAssertEqual(family.componentIndex(for: key), family.componentIndex(for: key))
        // One function per draw (validation, evaluation): neighbours draw independently.
        let single = MixtureFamily(components: family.components)
        XCTAssertEqual(Set((0..<40).map { single.componentIndex(for: RandomKey(seed: 9, horizon: 0, task: $0)) }).count, 2)
    }

    /// A family with several parameter groups runs every coordinate on the mixture's one optimizer.
    func testSeveralGroupsShareTheOneOptimizer() {
        let split = SplitFamily()
        let shared = MixtureFamily(components: [(1, split)]).sample(RandomKey(seed: 1, horizon: 0, task: 0))
        XCTAssertEqual(shared.parameterGroups, [ParameterGroup(range: 0..<6, optimizer: 0)])
        XCTAssertEqual(SharedOptimizerFamily(base: split).sample(RandomKey(seed: 1, horizon: 0, task: 0)).parameterGroups,
                       shared.parameterGroups)
        let theta: [Float] = [1, 2, 3, 4, 5, 6]
        var g1 = [Float](repeating: 0, count: 6), g2 = g1
        let base = split.sample(RandomKey(seed: 1, horizon: 0, task: 0))
        let l1 = theta.withUnsafeBufferPointer { t in g1.withUnsafeMutableBufferPointer { base.lossAndGradient(at: t, step: 0, gradient: $0) } }
        let l2 = theta.withUnsafeBufferPointer { t in g2.withUnsafeMutableBufferPointer { shared.lossAndGradient(at: t, step: 0, gradient: $0) } }
        XCTAssertEqual(l1, l2)
        XCTAssertEqual(g1, g2)
    }

    /// The normalised meta-gradient is the gradient of the normalised meta-loss: checked against
    /// central finite differences of frozen-input losses divided by c, in Double, as
    /// MetaGradientTests checks the engine.
    func testNormalisedMetaGradientMatchesFiniteDifferences() {
        let config = LearnedOptimizerConfig(hiddenSizes: [4], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        let layout = ParameterLayout(config)
        let tasks: [any Optimizee] = (0..<2).map { RosenbrockOptimizee(dimension: 3, key: RandomKey(seed: 4, horizon: 0, task: $0)) }
        let c = MetaLossNormalization.initialLossScale(of: tasks)
        let initial = tasks.map { f -> Double in
            var g = [Float](repeating: 0, count: 3)
            return Double(f.initialParameters().withUnsafeBufferPointer { t in g.withUnsafeMutableBufferPointer { f.lossAndGradient(at: t, step: 0, gradient: $0) } })
        }
        XCTAssertEqual(c, (initial[0] + initial[1]) / 2, accuracy: 1e-12 * c)
        XCTAssertGreaterThan(c, 1, "Rosenbrock's losses are far from 1, so the check sees the division")
        let engine = UnrollEngine<Double>(layout: layout, tasks: tasks, unroll: 3)
        var s = RandomKey(seed: 5, horizon: 9, task: 9).stream(.auxiliary)
        let phi = (0..<layout.count).map { _ in s.normal() * 0.3 }
        let start = engine.initialState()
        var state = start
        var gradient = [Double](repeating: 0, count: layout.count)
        _ = phi.withUnsafeBufferPointer { p in gradient.withUnsafeMutableBufferPointer { engine.truncation(phi: p, state: &state, gradient: $0) } }
        gradient.withUnsafeMutableBufferPointer { MetaLossNormalization.divide($0, by: c) }
        let inputs = engine.recordedInputs()
        func loss(_ phi: [Double]) -> Double {
            phi.withUnsafeBufferPointer { engine.frozenInputLoss(phi: $0, state: start, inputs: inputs) }.reduce(0, +) / c
        }
        let h = 1e-5, noise = 1e-15 * abs(loss(phi)) / h
        for i in 0..<layout.count {
            var plus = phi, minus = phi
            plus[i] += h
            minus[i] -= h
            let fd = (loss(plus) - loss(minus)) / (2 * h)
            XCTAssertLessThanOrEqual(abs(fd - gradient[i]), 1e-6 * (abs(fd) + abs(gradient[i])) + noise + 1e-9,
                                     "φ[\(i)]: finite difference \(fd) vs normalised analytic \(gradient[i])")
        }
    }

    /// In training the normalisation divides the meta-gradient, not only the reported loss, by c:
    /// on the same functions and φ (the first meta-step), the meta-loss without normalisation over
    /// the one with it is c, and so must be the ratio of the meta-gradients' norms. (Adam's first
    /// step is sign-like, so φ alone would not show a missing division.)
    func testNormalisationDividesTheMetaGradientByTheLossScale() throws {
        func firstReport(_ normalization: MetaLossNormalization?) throws -> StepReport {
            let task = TaskSpec(try mixture("rosenbrock dimension=4"))
            // One block, so one c for the whole meta-batch.
            let config = TrainingConfig(task: task, metaBatch: 2, blockSize: 2, unroll: 5, horizon: 10, iterations: 2,
                                        seed: 3, lossNormalization: normalization)
            return try MetaTrainer(config: config, communicator: LocalCommunicator()).step()
        }
        for normalization in MetaLossNormalization.allCases {
            let plain = try firstReport(nil), normalised = try firstReport(normalization)
            let c = plain.metaLoss / normalised.metaLoss
            XCTAssertGreaterThan(c, 2, "Rosenbrock's losses are far from 1, so the division shows")
            XCTAssertEqual(plain.gradientNorm / normalised.gradientNorm, c, accuracy: 1e-4 * c, "\(normalization)")
        }
    }

    /// With normalisation a family whose losses are 10⁴ times larger weighs like the others: the
    /// first meta-step's mean step loss is near 1 (the loss relative to the start), without it the
    /// factor shows in full. Engines are remade when a block's family changes between horizons.
    func testNormalisationEvensOutFamiliesInTraining() throws {
        func firstLoss(_ normalization: MetaLossNormalization?) throws -> Double {
            let task = TaskSpec(try mixture("quadratic; rosenbrock dimension=4"))
            var config = TrainingConfig(task: task, metaBatch: 8, blockSize: 2, unroll: 5, horizon: 10, iterations: 6,
                                        seed: 3, lossNormalization: normalization)
            config.lossScaling = LogScaleRange(lower: log(1e4), upper: log(1e4) + 1e-9)
            let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
            var first = Double.nan
            while !trainer.finished {
                let report = try trainer.step()
                XCTAssertFalse(report.skipped)
                if first.isNaN { first = report.meanStepLoss }
            }
            XCTAssertTrue(trainer.state.phi.allSatisfy(\.isFinite))
            return first
        }
        let plain = try firstLoss(nil), normalised = try firstLoss(.initialLoss)
        XCTAssertGreaterThan(plain, 1e3, "the 10⁴ loss factor shows without normalisation")
        XCTAssertLessThan(normalised, 2, "relative to the initial loss")
        XCTAssertGreaterThan(normalised, 0.01)
    }

    /// `truncation-start`: the scale is the mean loss where the truncation starts, floored at ε·c.
    func testTruncationScaleIsTheStartLossWithAFloor() {
        XCTAssertEqual(MetaLossNormalization.truncationScale(startLosses: [2, 4], initialScale: 100), 3)
        XCTAssertEqual(MetaLossNormalization.truncationScale(startLosses: [0, 0], initialScale: 100),
                       100 * MetaLossNormalization.truncationFloor)
        XCTAssertEqual(MetaLossNormalization.truncationScale(startLosses: [.nan], initialScale: 100),
                       100 * MetaLossNormalization.truncationFloor)
        XCTAssertEqual(MetaLossNormalization.truncationScale(startLosses: [], initialScale: 7), 7)
    }

    /// In training, `truncation-start` equals `initial-loss` on a horizon's first truncation (both
    /// divide by f(θ₀)), bit for bit, and later divides by the loss where the truncation starts.
    /// With truncations of one step and one function the step loss is then f(θ_{k+1})/f(θ_k) where
    /// `initial-loss` reports f(θ_{k+1})/f(θ₀), so the ratios of consecutive `initial-loss`
    /// reports must come out (φ barely moves: a learning rate of 10⁻⁹).
    func testTruncationStartNormalisesEveryTruncation() throws {
        func run(_ normalization: MetaLossNormalization) throws -> (phiAfterFirst: [Float], losses: [Double]) {
            let task = TaskSpec(try mixture("rosenbrock dimension=4"))
            let config = TrainingConfig(task: task, metaBatch: 1, blockSize: 1, unroll: 1, horizon: 12, iterations: 12,
                                        learningRate: 1e-9, seed: 3, lossNormalization: normalization)
            let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
            var losses = [try trainer.step().meanStepLoss]
            let phi = trainer.state.phi
            while !trainer.finished { losses.append(try trainer.step().meanStepLoss) }
            return (phi, losses)
        }
        let initial = try run(.initialLoss), truncation = try run(.truncationStart)
        XCTAssertEqual(initial.phiAfterFirst.map(\.bitPattern), truncation.phiAfterFirst.map(\.bitPattern))
        XCTAssertEqual(initial.losses[0], truncation.losses[0])
        var moved = 0.0
        for k in 1..<initial.losses.count {
            let expected = initial.losses[k] / initial.losses[k - 1]
            XCTAssertEqual(truncation.losses[k], expected, accuracy: 1e-4 * expected, "truncation \(k)")
            moved = max(moved, abs(log(initial.losses[k])))
        }
        XCTAssertGreaterThan(moved, 0.02, "the loss moves away from f(θ₀), so the two scales differ")
    }

    /// A mixture's validation scores final over initial loss, so that every family counts alike.
    func testMixtureValidationScoresNormalisedFinalLosses() throws {
        let task = TaskSpec(try mixture("quadratic; rosenbrock dimension=4"))
        let training = TrainingConfig(task: task, horizon: 10, seed: 1)
        let validation = ValidationConfig(every: 1, functions: 6, seed: 2)
        let scorer = try ValidationScorer(config: validation, training: training, communicator: LocalCommunicator())
        XCTAssertTrue(scorer.normalized)
        let phi = TrainerState(config: training).phi
        let score = try XCTUnwrap(scorer.meanFinalLoss(phi: phi, communicator: LocalCommunicator()))
        let family = try task.makeFamily()
        let learned = LearnedOptimizer(config: training.optimizer, phi: phi, maxCoordinatesPerBatch: 1)
        let expected = try (0..<6).map { i -> Double in
            let curve = try learned.run(on: [family.sample(RandomKey(seed: 2, horizon: 0, task: i))], steps: 10)[0]
            return Double(curve.last!) / Double(curve[0])
        }.reduce(0, +) / 6
        XCTAssertEqual(score, expected, accuracy: 1e-12 * expected)
        let plain = try ValidationScorer(config: validation, training: TrainingConfig(task: .rosenbrock(dimension: 4), horizon: 10, seed: 1),
                                         communicator: LocalCommunicator())
        XCTAssertFalse(plain.normalized)
    }

    /// So does one family's validation under --loss-normalization (the meta-loss's scale, which
    /// best-optimizer.json should be chosen by): only mixtures were checked, which normalise anyway.
    func testNormalisedTrainingValidatesOnNormalisedFinalLosses() throws {
        var training = TrainingConfig(task: .rosenbrock(dimension: 4), horizon: 10, seed: 1)
        training.lossNormalization = .initialLoss
        let validation = ValidationConfig(every: 1, functions: 4, seed: 2)
        let scorer = try ValidationScorer(config: validation, training: training, communicator: LocalCommunicator())
        let phi = TrainerState(config: training).phi
        let score = try XCTUnwrap(scorer.meanFinalLoss(phi: phi, communicator: LocalCommunicator()))
        let family = try training.task.makeFamily()
        let learned = LearnedOptimizer(config: training.optimizer, phi: phi, maxCoordinatesPerBatch: 1)
        let curves = try (0..<4).map { try learned.run(on: [family.sample(RandomKey(seed: 2, horizon: 0, task: $0))], steps: 10)[0] }
        let expected = curves.map { Double($0.last!) / Double($0[0]) }.reduce(0, +) / 4
        XCTAssertEqual(score, expected, accuracy: 1e-12 * expected)
        let raw = curves.map { Double($0.last!) }.reduce(0, +) / 4
        XCTAssertGreaterThan(abs(raw - expected), 1e-3 * expected, "the raw mean differs, so the test tells them apart")
    }
}

/// Three coordinates on optimizer 0, three on optimizer 1 (as the CNN splits its parameters).
private struct SplitFamily: TaskFamily {
    var name: String { "split" }
    var optimizerCount: Int { 2 }
    func sample(_ key: RandomKey) -> any Optimizee {
        SplitOptimizee(base: QuadraticOptimizee(dimension: 6, key: key))
    }
}

private struct SplitOptimizee: Optimizee {
    let base: QuadraticOptimizee
    var dimension: Int { 6 }
    var parameterGroups: [ParameterGroup] { [ParameterGroup(range: 0..<3, optimizer: 0), ParameterGroup(range: 3..<6, optimizer: 1)] }
    func initialParameters() -> [Float] { base.initialParameters() }
    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        base.lossAndGradient(at: theta, step: step, gradient: gradient)
    }
}
