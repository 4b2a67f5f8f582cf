import XCTest
@testable import MetaOpt

/// Test-only quadratic f(θ) = ||Wθ − y||² with W (n×n), y and θ₀ standard normal from the key's
/// streams (the real family lives elsewhere; this one only has to be deterministic).
struct EvalbTestQuadratic: Optimizee {
    var n: Int
    var w: [Float]
    var y: [Float]
    var theta0: [Float]

    init(key: RandomKey, n: Int = 4) {
        self.n = n
        var s = key.stream(.function)
        w = s.normals(n * n)
        y = s.normals(n)
        var p = key.stream(.initialParameters)
        theta0 = p.normals(n)
    }

    var dimension: Int { n }
    func initialParameters() -> [Float] { theta0 }
    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                         gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        var r = [Float](repeating: 0, count: n)
        var loss: Float = 0
        for i in 0..<n {
            var acc = -y[i]
            for j in 0..<n { acc += w[i * n + j] * theta[j] }
            r[i] = acc
            loss += acc * acc
        }
        for j in 0..<n {
            var g: Float = 0
            for i in 0..<n { g += 2 * w[i * n + j] * r[i] }
            gradient[j] = g
        }
        return loss
    }
}

struct EvalbTestQuadraticFamily: TaskFamily {
    var name: String { "test-quadratic" }
    var optimizerCount: Int { 1 }
    func sample(_ key: RandomKey) -> any Optimizee { EvalbTestQuadratic(key: key) }
}

/// An optimizer that returns prepared curves (for the summary statistics).
struct EvalbFixedCurves: EvaluatedOptimizer {
    var name: String
    var curves: [[Float]]
    func run(on optimizees: [any Optimizee], steps: Int) throws -> [[Float]] { curves }
}

/// Counts evaluationLoss calls and answers with a marker, to check which loss is recorded.
struct EvalbMarkedParabola: Optimizee {
    var dimension: Int { 1 }
    func initialParameters() -> [Float] { [2] }
    func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int,
                         gradient: UnsafeMutableBufferPointer<Float>) -> Float {
        gradient[0] = 2 * theta[0]
        return theta[0] * theta[0]
    }
    /// 1000·step + θ², so the test sees both the step index and θ_t.
    func evaluationLoss(at theta: UnsafeBufferPointer<Float>, step: Int) -> Float {
        1000 * Float(step) + theta[0] * theta[0]
    }
}

final class EvaluationTests: XCTestCase {
    /// The baselines are tuned on functions of their own: another seed and, for image tasks, the
    /// training data, whichever split the held-out functions come from. Nothing checked it: with
    /// the evaluation's seed or split they were tuned on the functions they were scored on, and
    /// report.json still said "tuning_seed": seed + 1.
    func testBaselinesAreTunedOnOtherFunctionsThanTheHeldOutOnes() throws {
        func loss(_ f: any Optimizee) -> Float {
            let theta = f.initialParameters()
            return theta.withUnsafeBufferPointer { f.evaluationLoss(at: $0, step: 0) }
        }
        let quadratic = TaskSpec.quadratic(dimension: 6)
        let sets = try Evaluation.functionSets(quadratic, split: .test, seed: 40, functions: 3, tuningFunctions: 2) { try $0.makeFamily() }
        XCTAssertEqual(Evaluation.tuningSeed(evaluationSeed: 40), 41)
        let family = try quadratic.makeFamily()
        XCTAssertEqual(sets.heldOut.map(loss), Evaluation.sampleFunctions(from: family, seed: 40, count: 3).map(loss))
        XCTAssertEqual(sets.tuning.map(loss), Evaluation.sampleFunctions(from: family, seed: 41, count: 2).map(loss))
        XCTAssertNotEqual(sets.tuning.map(loss), Array(sets.heldOut.map(loss).prefix(2)))

        let mlp = TaskSpec.image(ImageTaskSpec(architecture: .mlp(MLPArchitecture())))
        let train: any TaskFamily, test: any TaskFamily
        do {
            (train, test) = (try mlp.onSplit(.train).makeFamily(), try mlp.onSplit(.test).makeFamily())
        } catch { throw XCTSkip("no Fashion-MNIST here: \(error)") }
        for split in [DatasetSplit.test, .train] {
            let images = try Evaluation.functionSets(mlp, split: split, seed: 40, functions: 1, tuningFunctions: 1) { try $0.makeFamily() }
            let key = RandomKey(seed: 41, horizon: 0, task: 0)
            XCTAssertEqual(loss(images.tuning[0]), loss(train.sample(key)), "held out on \(split): tuned on the training data")
            XCTAssertNotEqual(loss(train.sample(key)), loss(test.sample(key)), "the splits' losses differ, so the test tells them apart")
            let heldOut = split == .test ? test : train
            XCTAssertEqual(loss(images.heldOut[0]), loss(heldOut.sample(RandomKey(seed: 40, horizon: 0, task: 0))))
        }
    }

    func testBaselineCurveContract() throws {
        // SGD α = 0.25 on x² from x = 2: x halves each step, the loss is divided by 4.
        let curves = try BaselineOptimizer(kind: .sgd, learningRate: 0.25)
            .run(on: [EvalbTestParabola(start: [2])], steps: 3)
        XCTAssertEqual(curves, [[4, 1, 0.25, 0.0625]])
        // ℓ_t = evaluationLoss(θ_t, step: t), t = 0 … steps.
        let marked = try BaselineOptimizer(kind: .sgd, learningRate: 0.25).run(on: [EvalbMarkedParabola()], steps: 2)
        XCTAssertEqual(marked, [[4, 1001, 2000.25]])
    }

    func testDivergedRunIsInfinityFromThenOn() throws {
        // SGD α = 3 on x²: x ← −5x, the loss grows 25× per step and overflows Float after ~27 steps.
        let curve = try BaselineOptimizer(kind: .sgd, learningRate: 3).run(on: [EvalbTestParabola(start: [2])], steps: 40)[0]
        XCTAssertEqual(curve.count, 41)
        XCTAssertFalse(curve.contains { $0.isNaN })
        let first = try XCTUnwrap(curve.firstIndex { !$0.isFinite })
        XCTAssertGreaterThan(first, 20)
        XCTAssertTrue(curve[first...].allSatisfy { $0 == .infinity })
        XCTAssertTrue(curve[..<first].allSatisfy { $0.isFinite })
    }

    func testDeterminism() throws {
        func once() throws -> (EvaluationReport, Data) {
            let functions = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 42, count: 8)
            let optimizers = BaselineKind.allCases.map { BaselineOptimizer(kind: $0, learningRate: 0.01) }
            let report = try Evaluation.run(optimizers: optimizers, functions: functions, steps: 30,
                                            metadata: ["family": "test-quadratic"])
            return (report, try report.jsonData())
        }
        let (a, jsonA) = try once()
        let (b, jsonB) = try once()
        XCTAssertEqual(a, b)
        XCTAssertEqual(jsonA, jsonB)
        XCTAssertEqual(a.statisticsCSV(), b.statisticsCSV())
        XCTAssertEqual(a.plot().render(), b.plot().render())
        XCTAssertEqual(a.curves.map(\.name), ["SGD", "NAG", "RMSprop", "Adam"])
        XCTAssertTrue(a.curves.allSatisfy { $0.losses.count == 8 && $0.losses.allSatisfy { $0.count == 31 } })
        // Different seeds give different functions.
        let other = Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 43, count: 1)[0]
        XCTAssertNotEqual(other.initialParameters(),
                          Evaluation.sampleFunctions(from: EvalbTestQuadraticFamily(), seed: 42, count: 1)[0].initialParameters())
    }

    /// Finals: A [1, 2, 3, 4], B [2, 1, 3, 5], C [3, 3, 3, ∞] (C diverged on function 3).
    /// Function 0 → A, 1 → B, 2 → three-way tie (1/3 each), 3 → A.
    func handMadeReport() throws -> EvaluationReport {
        let a = EvalbFixedCurves(name: "A", curves: [[10, 1], [20, 2], [30, 3], [40, 4]])
        let b = EvalbFixedCurves(name: "B", curves: [[10, 2], [20, 1], [30, 3], [40, 5]])
        let c = EvalbFixedCurves(name: "C", curves: [[10, 3], [20, 3], [30, 3], [40, .infinity]])
        let functions: [any Optimizee] = (0..<4).map { _ in EvalbTestParabola(start: [1]) }
        return try Evaluation.run(optimizers: [a, b, c], functions: functions, steps: 1)
    }

    func testSummaryOnHandMadeCurves() throws {
        let report = try handMadeReport()
        XCTAssertEqual(report.functionCount, 4)
        let s = Dictionary(uniqueKeysWithValues: report.summary.map { ($0.name, $0) })
        XCTAssertEqual(s["A"]!.meanFinalLoss, 2.5)
        XCTAssertEqual(s["B"]!.meanFinalLoss, 2.75)
        XCTAssertEqual(s["C"]!.meanFinalLoss, .infinity)
        XCTAssertEqual(s["A"]!.medianFinalLoss, 2.5)
        XCTAssertEqual(s["B"]!.medianFinalLoss, 2.5)
        XCTAssertEqual(s["C"]!.medianFinalLoss, 3)
        XCTAssertEqual(s["A"]!.wins, 2 + 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s["B"]!.wins, 1 + 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s["C"]!.wins, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s["A"]!.winShare, (2 + 1.0 / 3) / 4, accuracy: 1e-12)
        XCTAssertEqual(report.summary.map(\.winShare).reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertEqual(report.summary.map(\.divergedFunctions), [0, 0, 1])
        XCTAssertEqual(report.summary.map(\.name), ["A", "B", "C"])
    }

    func testFunctionWhereAllDivergedIsWonByNobody() throws {
        let a = EvalbFixedCurves(name: "A", curves: [[1, 1], [1, .nan]])
        let b = EvalbFixedCurves(name: "B", curves: [[1, 2], [1, .infinity]])
        let report = try Evaluation.run(optimizers: [a, b], functions: [EvalbTestParabola(start: [1]), EvalbTestParabola(start: [1])],
                                        steps: 1)
        XCTAssertEqual(report.summary.map(\.wins), [1, 0])
        XCTAssertEqual(report.summary.map(\.winShare), [0.5, 0])
        XCTAssertEqual(report.summary.map(\.divergedFunctions), [1, 1])
        XCTAssertEqual(report.summary[0].medianFinalLoss, .infinity)  // [1, ∞]: halfway is ∞
    }

    func testStepStatisticsAndQuantiles() throws {
        let report = try handMadeReport()
        let stats = report.stepStatistics()
        XCTAssertEqual(stats.count, 3 * 2)
        // Step 0 of A: [10, 20, 30, 40] → mean 25, median 25, q25 = 10 + 0.75·10, q75 = 30 + 0.25·10.
        XCTAssertEqual(stats[0], StepStatistics(step: 0, optimizer: "A", mean: 25, median: 25, q25: 17.5, q75: 32.5))
        // Step 1 of C: [3, 3, 3, ∞] → q75 at h = 2.25 between 3 and ∞ is ∞.
        XCTAssertEqual(stats[5], StepStatistics(step: 1, optimizer: "C", mean: .infinity, median: 3, q25: 3, q75: .infinity))
        XCTAssertEqual(LossStatistics.quantile(sorted: [1, 2, 3, 4, 5], 0.25), 2)
        XCTAssertEqual(LossStatistics.quantile(sorted: [7], 0.75), 7)
        XCTAssertEqual(LossStatistics.quantile(sorted: [.infinity, .infinity], 0.5), .infinity)
    }

    func testWritersAndRoundTrip() throws {
        let report = try handMadeReport()
        let csv = report.statisticsCSV().split(separator: "\n").map(String.init)
        XCTAssertEqual(csv.first, "step,optimizer,mean,median,q25,q75")
        XCTAssertEqual(csv.count, 1 + 3 * 2)
        XCTAssertEqual(csv[1], "0,A,25.0,25.0,17.5,32.5")
        XCTAssertEqual(csv[6], "1,C,inf,3.0,3.0,inf")

        let md = report.markdownSummary()
        XCTAssertTrue(md.hasPrefix("| Optimizer | Learning rate | Mean final loss | Median final loss | Won | Diverged |\n|---|"))
        XCTAssertTrue(md.contains("| A | – | 2.5 | 2.5 | 58.3 % | 0/4 |"), md)
        XCTAssertTrue(md.contains("| C | – | inf | 3 | 8.3 % | 1/4 |"), md)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evalb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("nested/evaluation.json")
        try report.writeJSON(to: json)
        try report.writeStatisticsCSV(to: dir.appendingPathComponent("nested/stats.csv"))
        try report.writeMarkdownSummary(to: dir.appendingPathComponent("nested/summary.md"))
        try report.writePlot(to: dir.appendingPathComponent("nested/loss.svg"))
        try report.writeJSON(to: json)  // overwrite in place
        let loaded = try EvaluationReport.load(from: json)
        XCTAssertEqual(loaded, report)
        XCTAssertEqual(loaded.curves[2].losses[3][1], .infinity)
        let text = try String(contentsOf: json, encoding: .utf8)
        XCTAssertTrue(text.contains("\"Infinity\""))
        // Only the four result files: no temporary files left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("nested").path).sorted()
        XCTAssertEqual(names, ["evaluation.json", "loss.svg", "stats.csv", "summary.md"])
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("nested/stats.csv"), encoding: .utf8),
                       report.statisticsCSV())
    }

    /// A function whose parameter groups ask for a learned optimizer φ does not have (a CNN run by
    /// a one-optimizer φ) is an error `run` throws, not a trap in the engine.
    func testRunRefusesAParameterGroupWithoutItsOptimizer() throws {
        let config = LearnedOptimizerConfig(hiddenSizes: [4, 4])
        let phi: [Float] = ParameterLayout(config).initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
        let single = LearnedOptimizer(config: config, phi: phi)
        XCTAssertThrowsError(try single.run(on: [QuadraticOptimizee(dimension: 3, key: RandomKey(seed: 2, horizon: 0, task: 0)), TwoGroupBowl()],
                                            steps: 3)) { error in
            XCTAssertEqual(error as? EvaluationError, .unknownOptimizer(function: 1, optimizer: 1, available: 1))
            XCTAssertEqual("\(error)", "function 1 has a parameter group for learned optimizer 1; the optimizer has 1 (0..<1)")
        }
        var two = config
        two.optimizerCount = 2
        let twoPhi: [Float] = ParameterLayout(two).initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0))
        let both = LearnedOptimizer(config: two, phi: twoPhi)
        XCTAssertEqual(try both.run(on: [TwoGroupBowl()], steps: 3).first?.count, 4)
        XCTAssertEqual(try KernelPath.resolved(.portable), .portable)
        XCTAssertEqual(try KernelPath.resolved(nil), KernelPath.default)
    }

    /// `LearnedOptimizer.run` follows the divergence rule of the `EvaluatedOptimizer` contract when
    /// called directly (not only through `Evaluation.run`): from the first non-finite loss on, +∞,
    /// never NaN, whether the loss or the gradient turns non-finite.
    func testLearnedOptimizerRunReportsDivergenceAsInfinity() throws {
        /// f(θ) = Σ θ_i² whose loss (or gradient) is NaN from step `from` on.
        struct TurnsNaN: Optimizee {
            var from: Int, inGradient: Bool
            var dimension: Int { 3 }
            func initialParameters() -> [Float] { [1, -1, 0.5] }
            func lossAndGradient(at theta: UnsafeBufferPointer<Float>, step: Int, gradient: UnsafeMutableBufferPointer<Float>) -> Float {
                for i in 0..<3 { gradient[i] = inGradient && step >= from ? .nan : 2 * theta[i] }
                return !inGradient && step >= from ? .nan : theta.reduce(0) { $0 + $1 * $1 }
            }
        }
        let config = LearnedOptimizerConfig(hiddenSizes: [4, 4])
        let optimizer = LearnedOptimizer(config: config, phi: ParameterLayout(config).initialParameters(key: RandomKey(seed: 1, horizon: 0, task: 0)))
        let curves = try optimizer.run(on: [TurnsNaN(from: 2, inGradient: false), TurnsNaN(from: 2, inGradient: true)], steps: 5)
        for (f, curve) in curves.enumerated() {
            let firstInfinite = f == 0 ? 2 : 3  // a NaN gradient at step 2 shows in ℓ₃
            XCTAssertTrue(curve[..<firstInfinite].allSatisfy(\.isFinite), "\(curve)")
            XCTAssertEqual(Array(curve[firstInfinite...]), [Float](repeating: .infinity, count: 6 - firstInfinite), "\(curve)")
        }
    }

    /// A damaged report.json (rows of the wrong length, a wrong step count, another file) is an
    /// error naming the file and the fault, never a trap in the statistics that plot reads.
    func testLoadRefusesDamagedReports() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evalb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("report.json")
        let good = try handMadeReport()  // 3 curves, 4 functions, steps 1
        func problem(_ edit: (inout EvaluationReport) -> Void) throws -> String {
            var report = good
            edit(&report)
            try report.writeJSON(to: url)
            return problem(of: url)
        }
        func problem(of url: URL) -> String {
            do {
                _ = try EvaluationReport.load(from: url)
                return "no error"
            } catch let error as ReportFileError {
                XCTAssertEqual(error.path, url.path)
                return error.problem
            } catch {
                return "unexpected \(error)"
            }
        }
        XCTAssertEqual(try problem { _ in }, "no error")
        XCTAssertEqual(try problem { $0.curves[1].losses[2].removeLast() },
                       "is malformed: function 2 of B has 1 losses, not \"steps\" + 1 = 2")
        XCTAssertEqual(try problem { $0.steps = 20 }, "is malformed: function 0 of A has 2 losses, not \"steps\" + 1 = 21")
        XCTAssertEqual(try problem { $0.steps = -5 }, "is malformed: \"steps\" is -5")
        // The checks are init's (one place): a name twice, and a count of steps + 1 that overflows.
        XCTAssertEqual(try problem { $0.curves[2].name = "A" }, "is malformed: two optimizers' curves are named \"A\"")
        XCTAssertEqual(try problem { $0.steps = Int.max }, "is malformed: \"steps\" is \(Int.max)")
        XCTAssertEqual(try problem { $0.curves[2].losses.removeLast() },
                       "is malformed: the curves of C have 3 functions, not \"functionCount\" 4")
        XCTAssertEqual(try problem { $0.curves = [] }, "is malformed: it has no curves")
        XCTAssertEqual(try problem { $0.format = "other" }, EvaluationReport.notAReport)
        // Another kind of file, a truncated report, a directory, nothing.
        try Data("{\"iteration\": 0, \"meta_loss\": 1}\n".utf8).write(to: url)
        XCTAssertEqual(problem(of: url), EvaluationReport.notAReport)
        try good.jsonData().dropLast(20).write(to: url)
        XCTAssertTrue(problem(of: url).hasPrefix("is not valid JSON"), problem(of: url))
        XCTAssertEqual(problem(of: dir), "is a directory")
        XCTAssertEqual(problem(of: dir.appendingPathComponent("none.json")), "cannot be read (no such file)")
    }

    func testFailedAtomicWriteLeavesNothingBehind() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evalb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // The target is a non-empty directory: refused (before #20 the final rename failed).
        let target = dir.appendingPathComponent("report.json")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: target.appendingPathComponent("inside"))
        XCTAssertThrowsError(try ResultFile.writeAtomically("new", to: target)) {
            XCTAssertTrue("\($0)".contains("report.json: is a directory"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["report.json"])
        XCTAssertEqual(try String(contentsOf: target.appendingPathComponent("inside"), encoding: .utf8), "keep")
    }

    func testCSVQuotesAwkwardNames() throws {
        let a = EvalbFixedCurves(name: "LSTM, \"paper\"", curves: [[1, 1]])
        let report = try Evaluation.run(optimizers: [a], functions: [EvalbTestParabola(start: [1])], steps: 1)
        XCTAssertTrue(report.statisticsCSV().contains("0,\"LSTM, \"\"paper\"\"\",1.0,"))
    }

    /// The learned optimizer against the best baseline function by function: the count of lower
    /// final losses and the mean difference with its standard error, by hand on four functions.
    func testSummaryComparesTheLearnedOptimizerWithTheBestBaselinePerFunction() throws {
        func flat(_ finals: [Float]) -> [[Float]] { finals.map { [10, $0] } }
        let report = try EvaluationReport(steps: 1, curves: [
            OptimizerCurves(name: "LSTM", losses: flat([1, 2, 3, 6])),
            OptimizerCurves(name: "SGD", learningRate: 0.1, losses: flat([9, 9, 9, 9])),
            OptimizerCurves(name: "Adam", learningRate: 0.01, losses: flat([2, 3, 4, 3]))])
        // Differences −1, −1, −1, 3: mean 0, sample variance 12 / 3 = 4, standard error √(4 / 4) = 1.
        XCTAssertTrue(report.markdownSummary().contains(
            "\nLSTM against Adam, the baseline with the lowest mean final loss, function by function: lower final loss on 3 of 4 functions; mean difference of the final losses 0 ± 1 (standard error over the functions).\n"),
                      report.markdownSummary())
        XCTAssertFalse(report.markdownSummary(legend: false).contains("function by function"))
        let diverged = try EvaluationReport(steps: 1, curves: [
            OptimizerCurves(name: "LSTM", losses: flat([1, .infinity])),
            OptimizerCurves(name: "Adam", learningRate: 0.01, losses: flat([2, 3]))])
        XCTAssertTrue(diverged.markdownSummary().contains("lower final loss on 1 of 2 functions; mean difference of the final losses not finite (a run diverged)."),
                      diverged.markdownSummary())
        // Every baseline's mean infinite: the lowest median chose, and the line says so.
        let allDiverged = try EvaluationReport(steps: 1, curves: [
            OptimizerCurves(name: "LSTM", losses: flat([1, 1, 1])),
            OptimizerCurves(name: "SGD", learningRate: 0.1, losses: flat([5, 5, .infinity])),
            OptimizerCurves(name: "NAG", learningRate: 0.1, losses: flat([2, .infinity, .infinity]))])
        XCTAssertTrue(allDiverged.markdownSummary().contains(
            "LSTM against SGD, the baseline with the lowest median final loss (every baseline's mean is infinite: runs diverged), function by function"),
                      allDiverged.markdownSummary())
        // Nothing finite to choose by: the first baseline, and the line says so; one baseline is the only one.
        let nothingFinite = try EvaluationReport(steps: 1, curves: [
            OptimizerCurves(name: "LSTM", losses: flat([1, 1])),
            OptimizerCurves(name: "SGD", learningRate: 0.1, losses: flat([.infinity, .infinity])),
            OptimizerCurves(name: "NAG", learningRate: 0.1, losses: flat([.infinity, .infinity]))])
        XCTAssertTrue(nothingFinite.markdownSummary().contains(
            "LSTM against SGD, the first baseline (every baseline's mean and median are infinite: runs diverged), function by function"),
                      nothingFinite.markdownSummary())
        XCTAssertTrue(diverged.markdownSummary().contains("LSTM against Adam, the only baseline, function by function"), diverged.markdownSummary())
        // One function: no standard error to give.
        let one = try EvaluationReport(steps: 1, curves: [
            OptimizerCurves(name: "LSTM", losses: flat([1])), OptimizerCurves(name: "Adam", learningRate: 0.01, losses: flat([3]))])
        XCTAssertTrue(one.markdownSummary().contains("lower final loss on 1 of 1 functions; mean difference of the final losses -2.\n"), one.markdownSummary())
    }

    func testTunedBaselinesEndToEnd() throws {
        let family = EvalbTestQuadraticFamily()
        let training = Evaluation.sampleFunctions(from: family, seed: 1, count: 4)
        let evaluation = Evaluation.sampleFunctions(from: family, seed: 2, count: 6)
        let tuning = try Evaluation.tuneBaselines([.sgd, .adam], trainingFunctions: training, steps: 20,
                                                  grid: [0.001, 0.01, 0.1])
        let report = try Evaluation.run(optimizers: tuning.map(BaselineOptimizer.init(tuned:)), functions: evaluation,
                                        steps: 20, tuning: tuning)
        XCTAssertEqual(report.summary.map(\.learningRate), tuning.map(\.learningRate))
        XCTAssertEqual(report.tuning, tuning)
        XCTAssertEqual(report.tuning[0].scores.count, 3)
        let md = report.markdownSummary()
        XCTAssertTrue(md.contains("| SGD |") && md.contains("| Adam |"))
        // No learned optimizer here: nothing to compare function by function.
        XCTAssertFalse(md.contains("function by function"), md)
        // Every baseline reduces the mean loss on these functions.
        for c in report.curves {
            let stats = report.statistics(of: c)
            XCTAssertLessThan(stats.last!.mean, stats.first!.mean, c.name)
        }
    }

    func testInputErrors() {
        let f: [any Optimizee] = [EvalbTestParabola(start: [1])]
        let sgd = BaselineOptimizer(kind: .sgd, learningRate: 0.1)
        XCTAssertThrowsError(try Evaluation.run(optimizers: [sgd, sgd], functions: f, steps: 2)) {
            XCTAssertEqual($0 as? EvaluationError, .duplicateName("SGD"))
        }
        XCTAssertThrowsError(try Evaluation.run(optimizers: [EvalbFixedCurves(name: "X", curves: [[1, 2]])],
                                                functions: f, steps: 2)) {
            XCTAssertEqual($0 as? EvaluationError, .malformedCurves(optimizer: "X", expectedFunctions: 1, expectedLength: 3))
        }
        XCTAssertThrowsError(try Evaluation.run(optimizers: [sgd], functions: f, steps: -1)) {
            XCTAssertEqual($0 as? EvaluationError, .invalidSteps(-1))
        }
        XCTAssertThrowsError(try Evaluation.run(optimizers: [sgd], functions: [], steps: 2)) {
            XCTAssertEqual($0 as? EvaluationError, .noFunctions)
        }
        XCTAssertThrowsError(try Evaluation.run(optimizers: [], functions: f, steps: 2)) {
            XCTAssertEqual($0 as? EvaluationError, .noOptimizers)
        }
    }
}
