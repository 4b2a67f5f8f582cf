import Foundation
import XCTest
@testable import MetaOpt

final class MetaTrainerTests: XCTestCase {
    /// step() once the configured meta-steps are done trained on past the run's end, silently.
    func testStepAfterTheLastMetaStepThrows() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 2, unroll: 5, horizon: 10, iterations: 2)
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
        while !trainer.finished { try trainer.step() }
        let phi = trainer.state.phi
        XCTAssertThrowsError(try trainer.step()) { XCTAssertEqual($0 as? TrainingError, .alreadyFinished(iterations: 2)) }
        XCTAssertEqual(trainer.state.iteration, 2)
        XCTAssertEqual(trainer.state.phi, phi)
    }

    func testShortTrainingLowersMetaLoss() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 16, blockSize: 8, unroll: 20,
                                    horizon: 100, iterations: 100, learningRate: 1e-2, seed: 7)
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
        var losses: [Double] = []
        while !trainer.finished { losses.append(try trainer.step().meanStepLoss) }
        let early = losses.prefix(20).reduce(0, +) / 20, late = losses.suffix(20).reduce(0, +) / 20
        print("meta-loss early \(early) late \(late)")
        XCTAssertLessThan(late, 0.7 * early)
    }

    /// Validation runs at the first horizon boundary at or after each multiple of `every`
    /// (multiples of 7 with 5 meta-steps per horizon: 7 → 10, 14 → 15, 21 → 25, 28 → 30, 35), also
    /// when a skipped meta-step ends a horizon early (every 5, a skip at 6: 5, then 12, not 7),
    /// and at the run's last boundary (every 500 in a run of 120: at 120; in a run of 121 or 124,
    /// which ends inside the horizon after 120: at 120 too, where it used to be nowhere).
    func testValidationIsDueAtTheFirstBoundaryAfterEachMultiple() {
        func due(every: Int, _ boundaries: [Int], lastIteration: Int? = nil) -> [Int] {
            let validation = ValidationConfig(every: every, functions: 1, seed: 1)
            return zip(boundaries.dropFirst(), boundaries).filter {
                validation.isDue(atBoundary: $0, previous: $1, lastIteration: lastIteration ?? boundaries.last!, truncationsPerHorizon: 5)
            }.map(\.0)
        }
        XCTAssertEqual(due(every: 7, Array(stride(from: 0, through: 35, by: 5))), [10, 15, 25, 30, 35])
        XCTAssertEqual(due(every: 7, Array(stride(from: 0, through: 40, by: 5))), [10, 15, 25, 30, 35, 40])
        XCTAssertEqual(due(every: 5, [0, 5, 7, 12, 17, 22]), [5, 12, 17, 22])
        XCTAssertEqual(due(every: 500, Array(stride(from: 0, through: 120, by: 5))), [120])
        XCTAssertEqual(due(every: 500, Array(stride(from: 0, through: 120, by: 5)), lastIteration: 121), [120])
        XCTAssertEqual(due(every: 500, Array(stride(from: 0, through: 120, by: 5)), lastIteration: 124), [120])
        XCTAssertEqual(due(every: 7, Array(stride(from: 0, through: 20, by: 5)), lastIteration: 23), [10, 15, 20])
        XCTAssertEqual(due(every: 500, [0, 5, 10, 15, 17], lastIteration: 19), [15, 17],
                       "a skip at 17 ends a horizon early: 15 and 17 are both within a horizon of the end")
        XCTAssertFalse(ValidationConfig(every: 7, functions: 1, seed: 1).isDue(atBoundary: 0, previous: 0, lastIteration: 3, truncationsPerHorizon: 5),
                       "meta-step 0 is scored separately, on a fresh start")
    }

    /// A resumed run validates its checkpoint's φ first when that boundary is a validation point
    /// without a score. The last score before it stands in for the unrecorded boundary before it,
    /// which a skip may have moved (every 4, 2 meta-steps per horizon, a skip at 4: boundaries 0,
    /// 2, 4, 5, 7).
    func testResumeValidatesFirstOnlyAtAnUnscoredValidationPoint() {
        let validation = ValidationConfig(every: 4, functions: 1, seed: 1)
        func validatesFirst(at iteration: Int, scored: [Int]) -> Bool {
            let log = scored.map { "{\"iteration\":\($0),\"mean_final_loss\":1.5,\"best\":false}\n" }.joined()
            return ValidationLog.validatesAtResume(iteration, validation: validation, truncationsPerHorizon: 2,
                                                   lastIteration: 9, in: Data(log.utf8))
        }
        XCTAssertTrue(validatesFirst(at: 0, scored: []), "a fresh run's start")
        XCTAssertFalse(validatesFirst(at: 0, scored: [0]))
        XCTAssertTrue(validatesFirst(at: 4, scored: [0]), "the validation at 4 was abandoned")
        XCTAssertFalse(validatesFirst(at: 4, scored: [0, 4]))
        XCTAssertFalse(validatesFirst(at: 5, scored: [0, 4]), "4 was scored; 5 is not a validation point")
        XCTAssertFalse(validatesFirst(at: 7, scored: [0, 4]))
        XCTAssertTrue(validatesFirst(at: 5, scored: [0]), "boundaries 0, 2, 3 (a skip at 2), 5: 5 is the first at or after 4")
        XCTAssertTrue(validatesFirst(at: 8, scored: [0, 4]))
        XCTAssertTrue(validatesFirst(at: 9, scored: [0, 4, 8]), "the last meta-step's validation was abandoned")
        XCTAssertFalse(validatesFirst(at: 9, scored: [0, 4, 8, 9]))
    }

    /// The validation functions' data are compared across ranks when the scorer is made: a rank
    /// whose data differ from another's stops, before any score.
    func testValidationScorerRefusesValidationDataThatDiffersBetweenRanks() throws {
        let training = TrainingConfig(task: .quadratic(dimension: 4), horizon: 10, seed: 1)
        let validation = ValidationConfig(every: 1, functions: 2, seed: 2)
        // Quadratics are drawn from keys alone: fingerprint 0, as every rank of the job passes.
        XCTAssertNoThrow(try ValidationScorer(config: validation, training: training, communicator: PeerCommunicator(peerValue: 0)))
        XCTAssertThrowsError(try ValidationScorer(config: validation, training: training,
                                                  communicator: PeerCommunicator(peerValue: 0x1234))) { error in
            XCTAssertEqual(error as? TrainingError, .dataDiffersAcrossRanks)
        }
    }

    func testBlocksTileTheMetaBatch() {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 37, blockSize: 5)
        for size in 1...9 {
            let all = (0..<size).flatMap { MetaTrainer.blocks(config: config, rank: $0, size: size) }
            XCTAssertEqual(all.flatMap { Array($0) }, Array(0..<37), "np=\(size)")
        }
    }

    func testFixedPointSumIsExactAndOrderIndependent() {
        var s = RandomKey(seed: 3, horizon: 0, task: 0).stream(.auxiliary)
        let values = (0..<1000).map { _ in Float(s.normal() * pow(10, s.uniform(-6, 3))) }
        let codec = FixedPointCodec(maxMagnitude: Double(values.map { abs($0) }.max()!), terms: values.count)
        let forward = values.reduce(Int64(0)) { $0 + codec.encode($1) }
        let backward = values.reversed().reduce(Int64(0)) { $0 + codec.encode($1) }
        XCTAssertEqual(forward, backward)
        let exact = values.reduce(0.0) { $0 + Double($1) }
        XCTAssertEqual(codec.decode(forward), exact, accuracy: 1e-12 * abs(exact) + Double(values.count) * codec.decode(1))
    }

    func testInvalidConfigurationIsRejected() {
        let config = TrainingConfig(task: .quadratic(dimension: 0), metaBatch: 0, unroll: 20, horizon: 50)
        XCTAssertThrowsError(try MetaTrainer(config: config, communicator: LocalCommunicator())) { error in
            let text = "\(error)"
            XCTAssert(text.contains("meta-batch"), text)
            XCTAssert(text.contains("multiple of the unroll"), text)
            XCTAssert(text.contains("dimension"), text)
        }
    }

    /// docs/swift-api.md's way to fine-tune on a family of one's own (config.initFrom is the
    /// command line's): a fresh state with a trained φ, passed as resumeFrom, starts from that φ.
    func testAFreshStateWithAGivenPhiStartsTrainingThere() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 2, unroll: 5, horizon: 10, iterations: 3)
        var state = TrainerState(config: config)
        state.phi = state.phi.indices.map { Float($0 % 7) * 0.01 - 0.03 }
        let trainer = try MetaTrainer(config: config, family: QuadraticFamily(dimension: 4), communicator: LocalCommunicator(),
                                      resumeFrom: state)
        XCTAssertEqual(trainer.state.phi, state.phi)
        try trainer.step()
        XCTAssertEqual(trainer.state.iteration, 1)
        XCTAssertNotEqual(trainer.state.phi, state.phi, "trained from there")
    }

    /// A state passed as `resumeFrom` (public API) that no run could continue is refused with the
    /// reason: Adam moments of another size trapped in the first step, a truncation past the
    /// horizon unrolled one function without end, a negative meta-step trained past the run's end.
    func testAResumedStateNoRunCouldContinueIsRefused() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, blockSize: 2, unroll: 5, horizon: 10, iterations: 3)
        func refused(_ damage: (inout TrainerState) -> Void, _ fragment: String, line: UInt = #line) {
            var state = TrainerState(config: config)
            damage(&state)
            XCTAssertThrowsError(try MetaTrainer(config: config, communicator: LocalCommunicator(), resumeFrom: state), line: line) {
                guard case .invalidConfiguration(let problems)? = $0 as? TrainingError else { return XCTFail("\($0)", line: line) }
                XCTAssertTrue(problems.contains { $0.hasPrefix("the resumed state: ") && $0.contains(fragment) }, "\(problems)", line: line)
            }
        }
        refused({ $0.adam = AdamState(count: 3) }, "Adam's first moment has 3 values, this configuration needs")
        refused({ $0.phi.removeLast() }, "φ has")
        refused({ $0.phi[0] = .nan }, "φ holds nan at index 0")
        refused({ $0.adam.secondMoment[2] = -1 }, "Adam's second moment is negative at index 2")
        refused({ $0.counters.truncation = 99 }, "inside a horizon (truncation 99)")
        refused({ $0.counters.iteration = -5 }, "meta-step -5")
        var good = TrainerState(config: config)
        good.counters.iteration = 2
        good.counters.horizon = 1
        good.counters.adamStep = 2
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator(), resumeFrom: good)
        try trainer.step()
        XCTAssertTrue(trainer.finished)
    }

    func testNonFiniteStepsAreSkippedThenStop() throws {
        var config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2, unroll: 5,
                                    horizon: 10, iterations: 10, seed: 1)
        config.maxConsecutiveSkips = 2
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
        trainer.faults = [FaultInjection(iteration: 1, rank: 0, kind: .nan), FaultInjection(iteration: 3, rank: 0, kind: .nan),
                          FaultInjection(iteration: 4, rank: 0, kind: .nan)]
        XCTAssertFalse(try trainer.step().skipped)
        let phiBefore = trainer.state.phi
        XCTAssertTrue(try trainer.step().skipped)
        XCTAssertEqual(trainer.state.phi, phiBefore, "a skipped step must not change φ")
        XCTAssertEqual(trainer.state.truncation, 0, "a skipped step starts fresh functions")
        XCTAssertFalse(try trainer.step().skipped)
        XCTAssertTrue(try trainer.step().skipped)
        XCTAssertThrowsError(try trainer.step()) { XCTAssertEqual($0 as? TrainingError, .tooManySkips(consecutive: 2, iteration: 4)) }
    }

    /// The meta-gradient is the mean over the meta-batch's functions, however they are blocked:
    /// the first meta-step's (pre-clipping) gradient norm is the norm of an engine's meta-gradient
    /// over the same 4 functions divided by 4, for blocks of 1, 2 and 4. (Adam's step hardly
    /// depends on the gradient's scale, so φ alone would not show a wrong divisor.)
    /// Also where the last block is shorter (5 functions in blocks of 2: the sum over 5, divided
    /// by 5, not by the 6 places of three blocks).
    func testMetaGradientIsTheMeanOverTheMetaBatch() throws {
        let family = try TaskSpec.quadratic(dimension: 10).makeFamily()
        for (metaBatch, blockSize) in [(4, 1), (4, 2), (4, 4), (5, 2), (3, 2)] {
            let tasks = (0..<metaBatch).map { family.sample(RandomKey(seed: 6, horizon: 0, task: $0)) }
            let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: metaBatch, blockSize: blockSize, unroll: 5,
                                        horizon: 10, iterations: 2, seed: 6)
            let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
            let g = firstTruncation(layout: ParameterLayout(config.optimizer), tasks: tasks, phi: trainer.state.phi, unroll: 5).gradient
            let expected = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() / Double(metaBatch)
            let report = try trainer.step()
            XCTAssertEqual(report.gradientNorm, expected, accuracy: 1e-4 * expected, "\(metaBatch) functions in blocks of \(blockSize)")
        }
    }

    /// --clip-norm c rescales a mean meta-gradient of norm above c to norm c before Adam: Adam's
    /// first moment after the first step is 0.1 g, so its norm is 0.1 c; with c above the norm,
    /// or without clipping, it is 0.1 ‖g‖.
    func testClipNormRescalesTheMetaGradientToTheLimit() throws {
        func firstMomentNorm(clip: Double?) throws -> (moment: Double, gradient: Double) {
            var config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2, unroll: 5,
                                        horizon: 10, iterations: 2, seed: 6)
            config.clipNorm = clip
            let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
            let report = try trainer.step()
            let m = trainer.state.adam.firstMoment.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return (m, report.gradientNorm)
        }
        let plain = try firstMomentNorm(clip: nil)
        XCTAssertEqual(plain.moment, 0.1 * plain.gradient, accuracy: 1e-5 * plain.moment)
        let limit = plain.gradient / 8
        let clipped = try firstMomentNorm(clip: limit)
        XCTAssertEqual(clipped.gradient, plain.gradient, "the report gives the norm before clipping")
        XCTAssertEqual(clipped.moment, 0.1 * limit, accuracy: 1e-5 * 0.1 * limit)
        let loose = try firstMomentNorm(clip: plain.gradient * 2)
        XCTAssertEqual(loose.moment, plain.moment, accuracy: 1e-6 * plain.moment)
    }

    /// Every horizon trains on fresh functions: horizon k's are the family's draws for
    /// RandomKey(seed, horizon: k, task: i). With φ frozen (a learning rate of 10⁻³⁰) and one
    /// truncation per horizon, each meta-step's meta-loss must be that of an engine run on those
    /// functions from their θ₀ (Σ over steps and functions / meta-batch), and the horizons' losses
    /// differ from one another.
    func testEveryHorizonDrawsFreshFunctions() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 2, blockSize: 2, unroll: 5,
                                    horizon: 5, iterations: 3, learningRate: 1e-30, seed: 4)
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
        let phi = trainer.state.phi
        let family = try config.task.makeFamily()
        var seen: [Double] = []
        for horizon in 0..<3 {
            XCTAssertEqual(trainer.state.horizon, horizon)
            let report = try trainer.step()
            let tasks = (0..<2).map { family.sample(RandomKey(seed: 4, horizon: horizon, task: $0)) }
            let losses = firstTruncation(layout: ParameterLayout(config.optimizer), tasks: tasks, phi: phi, unroll: 5).losses
            let expected = losses.reduce(0.0) { $0 + Double($1) } / 2
            XCTAssertEqual(report.metaLoss, expected, accuracy: 1e-5 * expected, "horizon \(horizon)")
            XCTAssertFalse(seen.contains(report.metaLoss), "horizon \(horizon) repeats an earlier horizon's functions")
            seen.append(report.metaLoss)
        }
    }

    /// Adam's step count t counts the steps taken, not the meta-steps: a skipped meta-step leaves
    /// it alone, so the first step taken after a skip is Adam's first, whose bias corrections make
    /// m̂ = g and v̂ = g², a step of lr · g / (|g| + ε), lr in magnitude wherever |g| ≫ ε. (Had it
    /// used t = 2, every coordinate would move 0.1/0.19 / √(0.001/0.001999) ≈ 0.744 lr.)
    func testFirstStepAfterASkipIsAdamsFirstStep() throws {
        let config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2, unroll: 5,
                                    horizon: 10, iterations: 10, learningRate: 1e-3, seed: 1)
        let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
        trainer.faults = [FaultInjection(iteration: 0, rank: 0, kind: .nan)]
        XCTAssertTrue(try trainer.step().skipped)
        XCTAssertEqual(trainer.state.adamStep, 0)
        let before = trainer.state.phi
        XCTAssertFalse(try trainer.step().skipped)
        XCTAssertEqual(trainer.state.adamStep, 1)
        let lr = config.learningRate
        var full = 0
        for (a, b) in zip(before, trainer.state.phi) {
            let moved = abs(Double(b) - Double(a))
            XCTAssertLessThanOrEqual(moved, lr * (1 + 1e-3))
            if abs(moved - lr) <= 1e-3 * lr { full += 1 }
        }
        // All but coordinates with a meta-gradient near ε (or zero) move by lr.
        XCTAssertGreaterThan(full, before.count * 9 / 10, "\(full) of \(before.count) coordinates moved by lr")
    }

    /// An Adam step past Float's range is skipped like a non-finite meta-gradient: a learning rate
    /// near Float's limit made φ infinite (then checkpointed), and meta-gradients whose squares
    /// overflow made v infinite, which froze those coordinates of φ while the run reported success.
    func testAdamStepsPastFloatRangeAreSkipped() throws {
        var config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 4, blockSize: 2, unroll: 5,
                                    horizon: 10, iterations: 10, learningRate: 1e38, seed: 1)
        config.maxConsecutiveSkips = 100
        for outputScale in [nil, 1e12] as [Double?] {
            if let outputScale { (config.learningRate, config.optimizer.outputScale) = (1e-3, outputScale) }
            let trainer = try MetaTrainer(config: config, communicator: LocalCommunicator())
            let before = trainer.state
            let report = try trainer.step()
            XCTAssertTrue(report.skipped, "output scale \(config.optimizer.outputScale), learning rate \(config.learningRate)")
            XCTAssertEqual(trainer.state.phi, before.phi)
            XCTAssertEqual(trainer.state.adam, before.adam)
            XCTAssertEqual(trainer.state.adamStep, before.adamStep)
            XCTAssertEqual(trainer.state.truncation, 0, "a fresh horizon")
        }
        // The learning rate itself must be a Float.
        config.learningRate = 1e39
        XCTAssertTrue(config.problems().contains { $0.contains("the learning rate must be positive and finite as a 32-bit float") })
    }
}

/// Rank 0 of a job of two whose other rank passes `peerValue` to every check that the ranks agree
/// (`allAgree`: a MAX allreduce of (v, −v)); every other collective does nothing.
private final class PeerCommunicator: TwoRankTestCommunicator {
    let rank = 0
    let peerValue: Int64
    init(peerValue: Int64) { self.peerValue = peerValue }

    func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ op: ReductionOperation) throws {
        precondition(op == .max && buffer.count == 2, "PeerCommunicator answers allAgree only")
        buffer[0] = max(buffer[0], peerValue)
        buffer[1] = max(buffer[1], -peerValue)
    }
}
