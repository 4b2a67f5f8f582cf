import XCTest
@testable import MetaOpt

/// f(x) = c Σ x_i², a test-only optimizee.
struct EvalbTestParabola: Optimizee {
    var start: [Float]
    var curvature: Float = 1
    var dimension: Int { start.count }
    func initialParameters() -> [Float] { start }
    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                         gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        var loss: Float = 0
        for i in 0..<theta.count {
            loss += curvature * theta[i] * theta[i]
            gradient[i] = 2 * curvature * theta[i]
        }
        return loss
    }
}

final class LearningRateSearchTests: XCTestCase {
    func testDefaultGrid() {
        XCTAssertEqual(LearningRateSearch.defaultGrid, [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3])
        let g = LearningRateSearch.logarithmicGrid(from: 1e-4, to: 3, pointsPerDecade: 3)
        XCTAssertEqual(g.count, 14)  // 10^(−12/3) … 10^(1/3)
        XCTAssertEqual(g.first!, 1e-4, accuracy: 1e-9)
        XCTAssertEqual(g.last!, 2.1544347, accuracy: 1e-5)
        XCTAssertEqual(g[3], 1e-3, accuracy: 1e-9)
    }

    /// SGD on f = x²: x ← (1 − 2α) x, so the loss shrinks by (1 − 2α)² per step. On the default grid
    /// α = 0.3 (factor 0.16) is best, α = 1 keeps the loss exactly constant, α = 3 (factor 25) diverges.
    func testPicksObviousRateForSGDOnParabola() throws {
        let functions: [any Optimizee] = [EvalbTestParabola(start: [1]), EvalbTestParabola(start: [-2]),
                                          EvalbTestParabola(start: [0.5, 3])]
        let result = try LearningRateSearch(steps: 40).run(kind: .sgd, on: functions)
        XCTAssertEqual(result.learningRate, 0.3)
        XCTAssertEqual(result.kind, .sgd)
        XCTAssertEqual(result.optimizer, "SGD")
        XCTAssertFalse(result.atGridEdge)
        XCTAssertEqual(result.steps, 40)
        XCTAssertEqual(result.trainingFunctions, 3)
        XCTAssertEqual(result.scores.map(\.learningRate), LearningRateSearch.defaultGrid)
        let byRate = Dictionary(uniqueKeysWithValues: result.scores.map { ($0.learningRate, $0) })
        // α = 1: losses 1, 4, 9.25 unchanged → mean 14.25 / 3.
        XCTAssertEqual(byRate[1]!.meanFinalLoss, 14.25 / 3, accuracy: 1e-6)
        XCTAssertEqual(byRate[3]!.meanFinalLoss, .infinity)
        XCTAssertEqual(byRate[3]!.divergedFunctions, 3)
        // α = 0.1: factor 0.64^40 times the initial mean loss.
        XCTAssertEqual(byRate[0.1]!.meanFinalLoss / (14.25 / 3), pow(0.64, 40), accuracy: 1e-10)
        XCTAssertLessThan(byRate[0.3]!.meanFinalLoss, byRate[0.1]!.meanFinalLoss)
    }

    /// The grid's 0.3 is √3 off SGD's best rate on f = x², α = 0.5 (one step to the minimum):
    /// one round tries 0.17 and 0.55 (factors 0.43 and 0.01 per step) and keeps 0.55; the second
    /// tries 0.41 and 0.74 around it and keeps it. Without rounds the grid's 0.3, as before.
    func testRefinementTriesMidpointsAroundTheBestRate() throws {
        let functions: [any Optimizee] = [EvalbTestParabola(start: [1]), EvalbTestParabola(start: [-2])]
        XCTAssertEqual(try LearningRateSearch(steps: 10).run(kind: .sgd, on: functions).learningRate, 0.3)
        let once = try LearningRateSearch(steps: 10, refinements: 1).run(kind: .sgd, on: functions)
        XCTAssertEqual(once.learningRate, 0.55)
        XCTAssertEqual(once.scores.map(\.learningRate), [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.17, 0.3, 0.55, 1, 3])
        let twice = try LearningRateSearch(steps: 10, refinements: 2).run(kind: .sgd, on: functions)
        XCTAssertEqual(twice.learningRate, 0.55)
        XCTAssertEqual(twice.scores.map(\.learningRate).filter { $0 > 0.1 && $0 < 1 }, [0.17, 0.3, 0.41, 0.55, 0.74])
        XCTAssertEqual(twice.scores.first { $0.learningRate == 0.55 }!.meanFinalLoss, 2.5 * pow(0.01, 10), accuracy: 2.5 * pow(0.01, 10) * 1e-4)
        XCTAssertFalse(twice.atGridEdge)
        // Scores stay in ascending rate, as the report's grid table shows them.
        XCTAssertEqual(twice.scores.map(\.learningRate), twice.scores.map(\.learningRate).sorted())
    }

    func testMidpointsHaveTwoSignificantDigitsWhereTheyCan() {
        XCTAssertEqual(LearningRateSearch.midpoint(0.3, 1), 0.55)
        XCTAssertEqual(LearningRateSearch.midpoint(1, 0.3), 0.55)
        XCTAssertEqual(LearningRateSearch.midpoint(3e-4, 1e-3), 5.5e-4)
        // Two digits would land on 0.65: the exact mean instead.
        XCTAssertEqual(Double(LearningRateSearch.midpoint(0.64, 0.65)!), (0.64 * 0.65).squareRoot(), accuracy: 1e-6)
        XCTAssertNil(LearningRateSearch.midpoint(0.5, 0.5))
        XCTAssertNil(LearningRateSearch.midpoint(1, 1.0000001))
    }

    /// With a stiffer parabola (curvature 4, stable for α < 0.25) the choice moves down the grid.
    func testStiffParabolaMovesChoiceDown() throws {
        let functions: [any Optimizee] = [EvalbTestParabola(start: [1], curvature: 4)]
        let result = try LearningRateSearch(steps: 30).run(kind: .sgd, on: functions)
        XCTAssertEqual(result.learningRate, 0.1)  // factor (1 − 0.8)² = 0.04 per step
        // α = 0.3: factor 1.96 per step, grows to 4 · 1.96^30 ≈ 2.4e9; α = 1: factor 49, overflows.
        XCTAssertEqual(result.scores.first { $0.learningRate == 0.3 }!.meanFinalLoss, 4 * pow(1.96, 30),
                       accuracy: 4 * pow(1.96, 30) * 1e-4)
        XCTAssertEqual(result.scores.first { $0.learningRate == 1 }!.meanFinalLoss, .infinity)
    }

    func testTiesGoToSmallerRateAndEdgeIsFlagged() throws {
        // Every rate leaves x = 0 at 0: all scores are 0.
        let result = try LearningRateSearch(grid: [1, 0.01, 0.1], steps: 5)
            .run(kind: .adam, on: [EvalbTestParabola(start: [0])])
        XCTAssertEqual(result.learningRate, 0.01)
        XCTAssertTrue(result.atGridEdge)
        XCTAssertEqual(result.scores.map(\.learningRate), [0.01, 0.1, 1])
        XCTAssertEqual(result.hyperparameters, ["beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8])
    }

    /// A flat parabola (curvature 0.01: factor (1 − 0.02α)² per step, best α = 50) puts the best
    /// default rate at the top, 3: the search continues the grid (10, 30, 100) until the best, 30,
    /// is inside it (α = 100 gives factor 1, no progress).
    func testGridExtendsUpwardUntilTheBestIsInside() throws {
        let result = try LearningRateSearch(steps: 20).run(kind: .sgd, on: [EvalbTestParabola(start: [1], curvature: 0.01)])
        XCTAssertEqual(result.learningRate, 30)
        XCTAssertFalse(result.atGridEdge)
        XCTAssertEqual(result.scores.map(\.learningRate), LearningRateSearch.defaultGrid + [10, 30, 100])
    }

    /// A stiff parabola (curvature 1e4: stable for α < 1e-4) puts the best default rate at the
    /// bottom: the search adds 3e-5 (factor 0.16) and 1e-5 (factor 0.64), and picks 3e-5.
    func testGridExtendsDownwardUntilTheBestIsInside() throws {
        let result = try LearningRateSearch(steps: 20).run(kind: .sgd, on: [EvalbTestParabola(start: [1], curvature: 1e4)])
        XCTAssertEqual(result.learningRate, 3e-5, accuracy: 1e-10)
        XCTAssertFalse(result.atGridEdge)
        XCTAssertEqual(result.scores.count, LearningRateSearch.defaultGrid.count + 2)
        XCTAssertEqual(result.scores[0].learningRate, 1e-5, accuracy: 1e-11)
    }

    /// The extension stops after `maxExtensions` points and then says the rate is at the edge.
    func testGridExtensionIsBounded() throws {
        let search = LearningRateSearch(steps: 5, maxExtensions: 2)
        let result = try search.run(kind: .sgd, on: [EvalbTestParabola(start: [1], curvature: 1e-6)])
        XCTAssertEqual(result.learningRate, 30)
        XCTAssertTrue(result.atGridEdge)
        XCTAssertEqual(result.scores.count, LearningRateSearch.defaultGrid.count + 2)
        XCTAssertEqual(LearningRateSearch.nextAbove([0.1, 1, 2, 5]), 10)  // three points a decade
        XCTAssertEqual(LearningRateSearch.nextBelow([0.1, 1, 2, 5]), 0.01)
        // The grid's decimals, not Float's quotient (3e-4 / 10 is 3.0000001e-05 in Float).
        XCTAssertEqual(LearningRateSearch.nextBelow([1e-4, 3e-4, 1e-3]).description, "3e-05")
        XCTAssertEqual(LearningRateSearch.nextAbove([0.01, 0.03, 0.1]).description, "0.3")  // not 0.29999998
    }

    func testErrors() {
        let f: [any Optimizee] = [EvalbTestParabola(start: [1])]
        XCTAssertThrowsError(try LearningRateSearch(grid: [5, 10], steps: 60).run(kind: .sgd, on: f)) {
            XCTAssertEqual($0 as? EvaluationError, .allDiverged(optimizer: "SGD", grid: [5, 10]))
        }
        XCTAssertThrowsError(try LearningRateSearch(grid: [], steps: 5).run(kind: .sgd, on: f)) {
            XCTAssertEqual($0 as? EvaluationError, .emptyGrid)
        }
        XCTAssertThrowsError(try LearningRateSearch(grid: [0.1, -1], steps: 5).run(kind: .sgd, on: f)) {
            XCTAssertEqual($0 as? EvaluationError, .invalidLearningRate(-1))
        }
        XCTAssertThrowsError(try LearningRateSearch(steps: 5).run(kind: .sgd, on: [])) {
            XCTAssertEqual($0 as? EvaluationError, .noFunctions)
        }
    }

    /// The search scores exactly what the evaluation measures: the mean final loss of the same runs.
    func testScoresMatchEvaluation() throws {
        let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 11, count: 6)
        let result = try LearningRateSearch(grid: [0.01, 0.03], steps: 25).run(kind: .rmsprop, on: functions)
        for score in result.scores {
            let report = try Evaluation.run(optimizers: [BaselineOptimizer(kind: .rmsprop, learningRate: score.learningRate)],
                                            functions: functions, steps: 25)
            XCTAssertEqual(report.summary[0].meanFinalLoss, score.meanFinalLoss)
        }
    }
}
