import Foundation
import XCTest
@testable import MetaOpt

/// `LearnedOptimizerStepper`: the parameters it produces from given gradients are those of the
/// engine's forward runs (what `evaluate` does), bit for bit, on every kernel path this CPU has.
final class StepperTests: XCTestCase {
    /// A φ that is not the initialisation (non-zero output bias, larger weights), so every part of
    /// the step shows in θ.
    static func phi(_ config: LearnedOptimizerConfig, seed: UInt64) -> [Float] {
        let layout = ParameterLayout(config)
        var stream = RandomKey(seed: seed, horizon: 9, task: 9).stream(.auxiliary)
        return layout.initialParameters(key: RandomKey(seed: seed, horizon: 0, task: 0)).map {
            $0 * 1.5 + Float(stream.uniform(-0.025, 0.025))
        }
    }

    /// θ after each of `steps` steps of the engine's forward-only run on `f` (the path of
    /// `LearnedOptimizer.run`), on kernel path `path`.
    static func engineTrajectory(_ optimizer: LearnedOptimizer, on f: any Optimizee, steps: Int, path: KernelPath) -> [[Float]] {
        let engine = optimizer.config.architecture.makeEngine(tasks: [f], unroll: 1, kernelPath: path)
        var state = engine.initialState()
        var thetas: [[Float]] = []
        optimizer.phi.withUnsafeBufferPointer { p in
            engine.run(phi: p, state: &state, steps: steps) { _, _, theta in thetas.append(Array(theta)) }
        }
        return thetas
    }

    /// θ after each of `steps` stepper steps on `f`, the gradients evaluated at the stepper's θ.
    static func stepperTrajectory(_ stepper: LearnedOptimizerStepper, on f: any Optimizee, steps: Int) throws -> [[Float]] {
        var theta = f.initialParameters()
        var gradient = [Float](repeating: 0, count: f.dimension)
        var thetas: [[Float]] = []
        for t in 0..<steps {
            _ = theta.withUnsafeBufferPointer { tp in
                gradient.withUnsafeMutableBufferPointer { f.lossAndGradient(at: tp, step: t, gradient: $0) }
            }
            try stepper.step(parameters: &theta, gradients: gradient)
            thetas.append(theta)
        }
        return thetas
    }

    /// The tensors of `f`'s parameter groups, in order.
    static func groupTensors(_ f: any Optimizee) -> [LearnedOptimizer.Tensor] {
        f.parameterGroups.enumerated().map { .init(name: "group\($0)", count: $1.range.count, optimizer: $1.optimizer) }
    }

    func assertBitwiseEqual(_ a: [[Float]], _ b: [[Float]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        for (t, (x, y)) in zip(a, b).enumerated() where x.map(\.bitPattern) != y.map(\.bitPattern) {
            let i = x.indices.first { x[$0].bitPattern != y[$0].bitPattern } ?? -1
            XCTFail("\(what): θ differs after step \(t + 1) at coordinate \(i)", file: file, line: line)
            return
        }
    }

    func checkMatchesEngine(_ f: any Optimizee, config: LearnedOptimizerConfig, tensors: [LearnedOptimizer.Tensor],
                            steps: Int, _ what: String) throws {
        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 5))
        for path in KernelPath.supported {
            let reference = Self.engineTrajectory(optimizer, on: f, steps: steps, path: path)
            let stepper = try optimizer.makeStepper(for: tensors, kernelPath: path)
            XCTAssertEqual(stepper.kernelPath, path)
            let stepped = try Self.stepperTrajectory(stepper, on: f, steps: steps)
            assertBitwiseEqual(stepped, reference, "\(what) on \(path)")
            XCTAssertEqual(stepper.stepCount, steps)
            // The update is not the identity: θ moved.
            XCTAssertNotEqual(stepped.last, f.initialParameters(), "\(what) on \(path)")
        }
    }

    /// Quadratics, raw gradients, one tensor; 600 coordinates make three column tiles.
    func testQuadraticMatchesEngineOnEveryKernelPath() throws {
        let f = QuadraticOptimizee(dimension: 600, key: RandomKey(seed: 3, horizon: 0, task: 1))
        try checkMatchesEngine(f, config: LearnedOptimizerConfig(), tensors: [.init(name: "theta", count: 600)], steps: 40,
                               "quadratic")
    }

    /// An MLP with the log-sign preprocessing and three LSTM layers, stepped as its named tensors
    /// (W1, b1, W2, b2), which lie contiguous on one optimizer like its single parameter group.
    func testMLPNamedTensorsMatchEngineOnEveryKernelPath() throws {
        let data = try ClassificationData(dataset: imageTestDataset(count: 40, height: 5, width: 6, classes: 4))
        let f = MLPOptimizee(data: data, architecture: MLPArchitecture(hiddenSizes: [12]), batchSize: 16,
                             key: RandomKey(seed: 1, horizon: 0, task: 0))
        let config = LearnedOptimizerConfig(hiddenSizes: [8, 12, 6], preprocessing: .logAndSign(p: 10), outputScale: 0.1)
        let tensors = f.tensors.map { LearnedOptimizer.Tensor(name: $0.name, count: $0.range.count) }
        try checkMatchesEngine(f, config: config, tensors: tensors, steps: 25, "MLP")
    }

    /// The CNN's two learned optimizers: convolution parameters on optimizer 0, fully connected on
    /// 1, as its parameter groups say; putting everything on optimizer 0 gives another θ.
    func testCNNTwoOptimizersMatchEngineOnEveryKernelPath() throws {
        let data = try ClassificationData(dataset: imageTestDataset(count: 20, height: 6, width: 6, channels: 2, classes: 3, seed: 3))
        let f = CNNOptimizee(data: data, architecture: CNNArchitecture(convolutionChannels: [3, 2], fullyConnectedSizes: [4]),
                             batchSize: 6, key: RandomKey(seed: 2, horizon: 1, task: 3))
        let config = LearnedOptimizerConfig(preprocessing: .logAndSign(p: 10), outputScale: 0.1, optimizerCount: 2)
        XCTAssertEqual(f.parameterGroups.map(\.optimizer), [0, 1])
        try checkMatchesEngine(f, config: config, tensors: Self.groupTensors(f), steps: 20, "CNN")

        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 5))
        let allOnFirst = Self.groupTensors(f).map { LearnedOptimizer.Tensor(name: $0.name, count: $0.count) }
        let wrong = try Self.stepperTrajectory(try optimizer.makeStepper(for: allOnFirst), on: f, steps: 1)[0]
        let right = try Self.stepperTrajectory(try optimizer.makeStepper(for: Self.groupTensors(f)), on: f, steps: 1)[0]
        let fullyConnected = f.parameterGroups[1].range
        XCTAssertNotEqual(wrong[fullyConnected], right[fullyConnected])
    }

    /// The public path: the losses `LearnedOptimizer.run` reports (what `evaluate` tabulates) are
    /// the optimizee's losses at the stepper's θ, bit for bit.
    func testLossCurveOfRunEqualsStepperLosses() throws {
        let functions = (0..<3).map { QuadraticOptimizee(dimension: 10, key: RandomKey(seed: 4, horizon: 0, task: $0)) }
        let config = LearnedOptimizerConfig()
        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 8))
        for f in functions {
            let curve = try optimizer.run(on: [f], steps: 30)[0]
            let stepper = try optimizer.makeStepper(for: [.init(name: "theta", count: 10)])
            let thetas = [f.initialParameters()] + (try Self.stepperTrajectory(stepper, on: f, steps: 30))
            let losses = thetas.enumerated().map { t, theta in theta.withUnsafeBufferPointer { f.evaluationLoss(at: $0, step: t) } }
            XCTAssertEqual(losses.map(\.bitPattern), curve.map(\.bitPattern))
        }
    }

    /// Named tensors in a dictionary: the same bits as the flat vector; entries that are not
    /// tensors are left alone; `reset()` starts the recurrent state afresh.
    func testDictionaryStepAndReset() throws {
        let config = LearnedOptimizerConfig(preprocessing: .logAndSign(p: 5), outputScale: 0.1)
        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 2))
        let tensors: [LearnedOptimizer.Tensor] = [.init(name: "weights", count: 7), .init(name: "bias", count: 2)]
        let named = try optimizer.makeStepper(for: tensors), flat = try optimizer.makeStepper(for: tensors)
        XCTAssertEqual(named.coordinateCount, 9)
        var parameters: [String: [Float]] = ["weights": (0..<7).map { Float($0) / 7 }, "bias": [0.5, -0.25], "frozen": [3]]
        var vector = parameters["weights"]! + parameters["bias"]!
        let start = parameters
        var firstSteps: [[Float]] = []
        for t in 0..<12 {
            // A gradient that depends on θ and t: g = θ − sin(t + i).
            let g = vector.enumerated().map { i, v in v - Float(sin(Double(t + i))) }
            try named.step(parameters: &parameters, gradients: ["weights": Array(g[0..<7]), "bias": Array(g[7...])])
            try flat.step(parameters: &vector, gradients: g)
            XCTAssertEqual((parameters["weights"]! + parameters["bias"]!).map(\.bitPattern), vector.map(\.bitPattern))
            firstSteps.append(vector)
        }
        XCTAssertEqual(parameters["frozen"], [3])

        flat.reset()
        XCTAssertEqual(flat.stepCount, 0)
        vector = start["weights"]! + start["bias"]!
        for t in 0..<12 {
            let g = vector.enumerated().map { i, v in v - Float(sin(Double(t + i))) }
            try flat.step(parameters: &vector, gradients: g)
            XCTAssertEqual(vector.map(\.bitPattern), firstSteps[t].map(\.bitPattern), "step \(t + 1) after reset")
        }
    }

    func testErrors() throws {
        let config = LearnedOptimizerConfig(optimizerCount: 2)
        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 1))
        XCTAssertThrowsError(try optimizer.makeStepper(for: [])) { XCTAssertEqual($0 as? StepperError, .noTensors) }
        XCTAssertThrowsError(try optimizer.makeStepper(for: [.init(name: "a", count: 0)])) {
            XCTAssertEqual($0 as? StepperError, .noTensors)
        }
        XCTAssertThrowsError(try optimizer.makeStepper(for: [.init(name: "a", count: 2), .init(name: "a", count: 1)])) {
            XCTAssertEqual($0 as? StepperError, .duplicateName("a"))
        }
        XCTAssertThrowsError(try optimizer.makeStepper(for: [.init(name: "a", count: 2, optimizer: 2)])) {
            XCTAssertEqual($0 as? StepperError, .unknownOptimizer(name: "a", optimizer: 2, available: 2))
        }
        let stepper = try optimizer.makeStepper(for: [.init(name: "a", count: 2), .init(name: "b", count: 1, optimizer: 1)])
        var parameters: [String: [Float]] = ["a": [1, 2], "b": [3]]
        XCTAssertThrowsError(try stepper.step(parameters: &parameters, gradients: ["a": [1, 1]])) {
            XCTAssertEqual($0 as? StepperError, .missingTensor(name: "b", in: "gradients"))
        }
        XCTAssertThrowsError(try stepper.step(parameters: &parameters, gradients: ["a": [1], "b": [1]])) {
            XCTAssertEqual($0 as? StepperError, .wrongCount(name: "gradients[\"a\"]", expected: 2, got: 1))
        }
        var vector: [Float] = [1, 2]
        XCTAssertThrowsError(try stepper.step(parameters: &vector, gradients: [1, 2, 3])) {
            XCTAssertEqual($0 as? StepperError, .wrongCount(name: "parameters", expected: 3, got: 2))
        }
        XCTAssertEqual(parameters, ["a": [1, 2], "b": [3]], "nothing changes when a step throws")
        XCTAssertEqual(stepper.stepCount, 0)
    }

    /// Counts whose sum is past `SizeLimits.coordinates` (or past Int) are an error, not an
    /// overflow or a trap in an allocation.
    func testHugeCountsAreRefused() throws {
        let config = LearnedOptimizerConfig()
        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 1))
        for tensors: [LearnedOptimizer.Tensor] in [[.init(name: "a", count: .max)],
                                                   [.init(name: "a", count: 2), .init(name: "b", count: .max - 1)],
                                                   [.init(name: "a", count: 1 << 29), .init(name: "b", count: (1 << 29) + 1)]] {
            XCTAssertThrowsError(try optimizer.makeStepper(for: tensors)) {
                XCTAssertEqual($0 as? StepperError, .tooManyCoordinates(limit: SizeLimits.coordinates))
            }
        }
    }

    /// Steppers share nothing: several of one `LearnedOptimizer` stepping at once on different
    /// threads give the bits each gives alone.
    func testSeveralSteppersStepAtOnce() throws {
        let config = LearnedOptimizerConfig(preprocessing: .logAndSign(p: 5), outputScale: 0.1)
        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 6))
        @Sendable func trajectory(_ seed: Int) throws -> [Float] {
            let stepper = try optimizer.makeStepper(for: [.init(name: "a", count: 700), .init(name: "b", count: 3)])
            var theta = (0..<703).map { Float(($0 * 7 + seed) % 13) / 13 }
            for t in 0..<50 {
                try stepper.step(parameters: &theta, gradients: theta.enumerated().map { i, v in v - Float(sin(Double(t + i + seed))) })
            }
            return theta
        }
        let alone = try (0..<8).map { try trajectory($0).map(\.bitPattern) }
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var bits = [[UInt32]](repeating: [], count: 8)
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let bits = (try? trajectory(i))?.map(\.bitPattern) ?? []
            results.lock.lock()
            results.bits[i] = bits
            results.lock.unlock()
        }
        XCTAssertEqual(results.bits, alone)
    }

    /// A NaN or infinite gradient is an error that changes nothing: stepped, it would make the
    /// coordinate's θ and LSTM state NaN for good. The steps after it are those of a fresh stepper.
    func testNonFiniteGradientsAreRefused() throws {
        let config = LearnedOptimizerConfig(preprocessing: .logAndSign(p: 5), outputScale: 0.1)
        let optimizer = LearnedOptimizer(config: config, phi: Self.phi(config, seed: 3))
        let tensors: [LearnedOptimizer.Tensor] = [.init(name: "a", count: 3), .init(name: "empty", count: 0), .init(name: "b", count: 2)]
        let stepper = try optimizer.makeStepper(for: tensors), fresh = try optimizer.makeStepper(for: tensors)
        for bad: Float in [.nan, .infinity, -.infinity] {
            var vector: [Float] = [1, 2, 3, 4, 5]
            XCTAssertThrowsError(try stepper.step(parameters: &vector, gradients: [0.1, 0.2, 0.3, bad, 0.5])) {
                XCTAssertEqual($0 as? StepperError, .nonFiniteGradient(name: "gradients", index: 3, tensor: "b"))
                XCTAssertEqual("\($0)", "gradients[3] (tensor 'b') is not finite; the step needs finite gradients and changed nothing")
            }
            var named: [String: [Float]] = ["a": [1, 2, 3], "empty": [], "b": [4, 5]]
            XCTAssertThrowsError(try stepper.step(parameters: &named, gradients: ["a": [0.1, bad, 0.3], "empty": [], "b": [0.4, 0.5]])) {
                XCTAssertEqual($0 as? StepperError, .nonFiniteGradient(name: "gradients[\"a\"]", index: 1, tensor: "a"))
            }
            XCTAssertEqual(vector, [1, 2, 3, 4, 5])
            XCTAssertEqual(named, ["a": [1, 2, 3], "empty": [], "b": [4, 5]])
        }
        XCTAssertEqual(stepper.stepCount, 0)
        var theta: [Float] = [1, 2, 3, 4, 5], reference = theta
        for _ in 0..<3 {
            try stepper.step(parameters: &theta, gradients: theta)
            try fresh.step(parameters: &reference, gradients: reference)
        }
        XCTAssertEqual(theta.map(\.bitPattern), reference.map(\.bitPattern))
        XCTAssertTrue(theta.allSatisfy(\.isFinite))
    }
}
