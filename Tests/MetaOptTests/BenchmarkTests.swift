import XCTest
import Foundation
@testable import MetaOpt

/// The benchmark harness behind `metaopt-dist bench`: workloads, the result it reports, and the
/// plug-in point for other optimizee families.
final class BenchmarkTests: XCTestCase {
    func testWorkloadsMatchTheReference() {
        let mlp = BenchmarkWorkload.mlp()
        XCTAssertEqual(mlp.family.sample(RandomKey(seed: 0, horizon: 0, task: 0)).dimension, 15_910)
        XCTAssertEqual(mlp.functions, 1)
        XCTAssertEqual(mlp.optimizer.preprocessing, .logAndSign(p: 10))
        XCTAssertEqual(mlp.optimizer.outputScale, 0.1)
        XCTAssertEqual(mlp.peerTask, "mlp")
        let quad = BenchmarkWorkload.quadratic()
        XCTAssertEqual(quad.functions, 128)
        XCTAssertEqual(quad.blockSize, 128)
        XCTAssertEqual(quad.optimizer, mlp.optimizer)
        XCTAssertEqual(BenchmarkWorkload.quadraticDefaults().optimizer, TaskSpec.quadratic(dimension: 10).defaultOptimizer)
        XCTAssertEqual(MetaIterationBenchmark.modelFLOPs().forward, 9_960)
        XCTAssertEqual(MetaIterationBenchmark.modelFLOPs().backward, 19_600)
    }

    /// `bench --task mlp` is the paper's MLP on Fashion-MNIST (skipped where the data set is missing).
    func testRealMLPWorkload() throws {
        let workload: BenchmarkWorkload
        do { workload = try BenchmarkWorkload.realMLP() } catch { throw XCTSkip("no Fashion-MNIST here: \(error)") }
        XCTAssertEqual(workload.name, "mlp")
        XCTAssertEqual(workload.family.sample(RandomKey(seed: 0, horizon: 0, task: 0)).dimension, 15_910)
        XCTAssertEqual(workload.optimizer, BenchmarkWorkload.peerOptimizer)
    }

    /// The synthetic stand-in is a valid optimizee: its gradient is the derivative of its loss.
    /// `bench --task cnn-step`'s timer: one entry per sample, medians within the samples, and the
    /// last loss that of the last timed step (warm-up and timed steps each with their own minibatch).
    func testOptimizeeStepBenchmark() throws {
        let data = imageTestDataset(count: 12, height: 6, width: 6, classes: 3, seed: 2)
        let family = try ImageClassificationFamily(dataset: data, architecture: .cnn(CNNArchitecture(convolutionChannels: [2],
                                                                                                    fullyConnectedSizes: [])),
                                                   batchSize: 4)
        let r = OptimizeeStepBenchmark.run(family: family, workload: "tiny-cnn", repetitions: 3, warmup: 1, stepsPerSample: 2)
        XCTAssertEqual([r.stepSeconds.count, r.stepCPUSeconds.count, r.dimension], [3, 3, family.sample(RandomKey(seed: 0, horizon: 0, task: 0)).dimension])
        XCTAssertEqual(r.family, "cnn")
        XCTAssert(r.stepSeconds.allSatisfy { $0 > 0 } && r.stepMin <= r.stepMedian && r.stepMedian <= r.stepSeconds.max()!)
        let f = family.sample(RandomKey(seed: 0, horizon: 0, task: 0))
        let theta = f.initialParameters()
        let lastStep = (1 + 3) * 2 - 1
        XCTAssertEqual(r.lastLoss, theta.withUnsafeBufferPointer { f.evaluationLoss(at: $0, step: lastStep) })
    }

    func testSyntheticOptimizeeGradient() {
        let f = SeparableQuadratic(dimension: 50, key: RandomKey(seed: 3, horizon: 0, task: 0))
        var theta = f.initialParameters()
        var g = [Float](repeating: 0, count: 50)
        _ = theta.withUnsafeBufferPointer { t in g.withUnsafeMutableBufferPointer { f.lossAndGradient(at: t, step: 0, gradient: $0) } }
        for i in [0, 17, 49] {
            let h: Float = 1e-2
            theta[i] += h
            let plus = theta.withUnsafeBufferPointer { f.evaluationLoss(at: $0, step: 0) }
            theta[i] -= 2 * h
            let minus = theta.withUnsafeBufferPointer { f.evaluationLoss(at: $0, step: 0) }
            theta[i] += h
            XCTAssertEqual((plus - minus) / (2 * h), g[i], accuracy: 1e-3 * max(1, abs(g[i])))
        }
    }

    /// Any `TaskFamily` plugs in; a small run reports consistent, finite figures.
    func testSmallRunReportsConsistentFigures() throws {
        let workload = BenchmarkWorkload(name: "tiny", family: QuadraticFamily(dimension: 10),
                                         optimizer: BenchmarkWorkload.peerOptimizer, functions: 6, blockSize: 4,
                                         unroll: 5, horizon: 10)
        let options = MetaIterationBenchmark.Options(repetitions: 3, warmup: 1, evaluationSteps: 4, evaluationRepetitions: 1,
                                                     gemmRepetitions: 1, fmaPeakCPUGFLOPS: 50)
        let r = MetaIterationBenchmark.run(workload, options: options)
        XCTAssertEqual(r.coordinates, 60)
        XCTAssertEqual(r.metaIterationSeconds.count, 3)
        XCTAssertTrue(r.metaIterationSeconds.allSatisfy { $0 > 0 && $0.isFinite })
        XCTAssertTrue(r.lastMetaLoss.isFinite)
        XCTAssertEqual(r.engineBytes, r.engineBytesStated)
        XCTAssertEqual(r.engineBytesPerFunction, Double(r.engineBytes) / 6)
        XCTAssertEqual(r.evaluationSeconds.count, 1)
        XCTAssertFalse(r.gemm.isEmpty)
        XCTAssertEqual(r.peerShapeGEMM.count, 6)
        let fraction = try XCTUnwrap(r.fractionOfGEMMBound)
        XCTAssertTrue(fraction > 0 && fraction.isFinite)
        XCTAssertEqual(r.coordinateStepsPerSecond, Double(60 * 5) / r.metaIterationMedian, accuracy: 1e-6 * r.coordinateStepsPerSecond)
        XCTAssertNotNil(ProcessMemory.peakResidentBytes)
        // GFLOP/s by thread CPU time: the FLOP model over the CPU medians (forward-only: forward FLOPs).
        let model = Double(r.modelFLOPsPerCoordinateStep) * 60 * 5
        let achievedCPU = try XCTUnwrap(r.achievedCPUGFLOPS)
        XCTAssertEqual(achievedCPU, model / r.metaIterationCPUMedian / 1e9, accuracy: 1e-9 * achievedCPU)
        XCTAssertEqual(try XCTUnwrap(r.fractionOfFMAPeakCPU), achievedCPU / 50, accuracy: 1e-12)
        let forward = Double(MetaIterationBenchmark.modelFLOPs(inputs: 2, hiddenSizes: [20, 20]).forward) * 60 * 4
        let evaluationCPU = try XCTUnwrap(r.evaluationCPUMedian)
        XCTAssertEqual(try XCTUnwrap(r.evaluationAchievedCPUGFLOPS), forward / evaluationCPU / 1e9,
                       accuracy: 1e-9 * forward / evaluationCPU / 1e9)
        XCTAssertNil(r.fractionOfFMAPeak)
        // The phases (and the rest) account for the profiled iterations' time.
        XCTAssertTrue(r.phases.allSatisfy { $0.seconds.isFinite })
        XCTAssertGreaterThan(r.phases.filter(\.isGEMM).reduce(0) { $0 + $1.seconds }, 0)
        // The forward-only run's profile: only forward phases ran, each layer's kernel among them.
        let forwardPhases = try XCTUnwrap(r.evaluationPhases).map(\.phase)
        XCTAssertTrue(forwardPhases.contains("kernel L1 forward") && forwardPhases.contains("kernel L2 forward + output"),
                      "\(forwardPhases)")
        XCTAssertTrue(forwardPhases.contains("optimizee f, ∇f"))
        XCTAssertFalse(forwardPhases.contains { $0.contains("backward") || $0.contains("dW") }, "\(forwardPhases)")
        XCTAssertTrue(try XCTUnwrap(r.evaluationPhases).allSatisfy { $0.seconds.isFinite && $0.seconds > 0 || $0.phase.hasPrefix("outside") })
        // JSON round trip.
        let data = try JSONEncoder().encode(r)
        let back = try JSONDecoder().decode(MetaIterationBenchmark.Result.self, from: data)
        XCTAssertEqual(back.metaIterationSeconds, r.metaIterationSeconds)
        // A result written before the CPU-time figures and the forward-only profile existed
        // (docs/scaling-mlp-bench.json) still reads.
        var older = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["achievedCPUGFLOPS", "evaluationAchievedCPUGFLOPS", "fmaPeakCPUGFLOPS", "fractionOfFMAPeakCPU",
                    "evaluationFractionOfFMAPeakCPU", "evaluationPhases"] {
            XCTAssertNotNil(older.removeValue(forKey: key), key)
        }
        let olderResult = try JSONDecoder().decode(MetaIterationBenchmark.Result.self,
                                                   from: JSONSerialization.data(withJSONObject: older))
        XCTAssertNil(olderResult.evaluationPhases)
        XCTAssertNil(olderResult.achievedCPUGFLOPS)
    }
}
