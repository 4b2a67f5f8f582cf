import Foundation
import XCTest
@testable import MetaOpt

/// The scaling model (ScalingModel) on a case computed by hand, the shard split, the latency and
/// bandwidth fit, and the meta-steps to a target score.
final class ScalingModelTests: XCTestCase {
    /// 4 functions of 1,000 coordinates (4 units: 256, 256, 256, 232), block size 1, T = 10,
    /// |φ| = 98 (the SUM allreduce moves 8·100 = 800 bytes); t_f = 1 ms, t_c = 1 µs, t_e = 1 ns,
    /// t_u = 0.1 ms; α = 10 µs, β = 1 ns/B, γ = 0.
    func model(noise: Double = 0) -> ScalingModel {
        ScalingModel(workload: .init(name: "hand", coordinatesPerFunction: 1_000, metaBatch: 4, blockSize: 1, unroll: 10, phiCount: 98),
                     compute: .init(optimizeePerFunctionStep: 1e-3, perCoordinateStep: 1e-6, encodePerValue: 1e-9,
                                    perMetaStep: 1e-4, noise: noise),
                     network: .init(name: "hand", alpha: 1e-5, beta: 1e-9, gamma: 0))
    }

    func testStepTimeOfTwoGroupsOfTwoShardsByHand() {
        let t = model().stepTime(.init(groups: 2, shards: 2))
        // 2 blocks per group; the larger shard has units 0-1: 512 coordinates.
        XCTAssertEqual(t.compute, 2 * 10 * (1e-3 + 512 * 1e-6), accuracy: 1e-15)  // 30.24 ms
        XCTAssertEqual(t.encode, 2 * 2 * 98 * 1e-9, accuracy: 1e-18)               // 2 blocks × 2 units × |φ|
        // Per block and step: ⌈log₂ 2⌉·α + ½ · 4,000 B · β = 10 µs + 2 µs.
        XCTAssertEqual(t.allgather, 2 * 10 * 12e-6, accuracy: 1e-15)
        // MAX: 2α; SUM: 4α + 2 · ¾ · 800 B · β.
        XCTAssertEqual(t.allreduce, 2e-5 + 4e-5 + 1.2e-6, accuracy: 1e-15)
        XCTAssertEqual(t.fixed, 1e-4)
        XCTAssertEqual(t.total, 0.030641592, accuracy: 1e-12)

        let one = model().stepTime(.init(groups: 1, shards: 1))
        // 4 blocks of 4 units, no communication.
        let oneByHand: Double = 0.08 + 1.568e-6 + 1e-4  // 4·10·2 ms + 4·4·98 ns + t_u
        XCTAssertEqual(one.total, oneByHand, accuracy: 1e-12)
        XCTAssertEqual(one.allgather, 0)
        XCTAssertEqual(one.allreduce, 0)
        XCTAssertEqual(model().efficiency(.init(groups: 2, shards: 2)), 0.080101568 / (4 * 0.030641592), accuracy: 1e-12)
    }

    /// The slowest of R ranks: compute × (1 + σ·√(2 ln R)); nothing else changes.
    func testNoiseStretchesOnlyTheCompute() {
        let quiet = model().stepTime(.init(groups: 2, shards: 2))
        let noisy = model(noise: 0.1).stepTime(.init(groups: 2, shards: 2))
        XCTAssertEqual(noisy.compute, quiet.compute * (1 + 0.1 * (2 * log(4.0)).squareRoot()), accuracy: 1e-15)
        XCTAssertEqual(noisy.allgather, quiet.allgather)
        XCTAssertEqual(model(noise: 0.1).stepTime(.init(groups: 1, shards: 1)).compute, 0.08, accuracy: 1e-15)
    }

    /// Groups first while they have blocks (no repeated optimizee, no allgather); shards beyond.
    func testBestLayoutUsesGroupsBeforeShards() {
        XCTAssertEqual(model().bestLayout(ranks: 4), .init(groups: 4, shards: 1))
        XCTAssertEqual(model().bestLayout(ranks: 8), .init(groups: 4, shards: 2))
        XCTAssertEqual(model().layouts(ranks: 6).map(\.description), ["6×1", "3×2", "2×3", "1×6"])
    }

    /// The report: the fastest layout per rank count, or a fixed S where it divides R; the time to
    /// target only for the meta-batch whose run gave the meta-steps.
    func testReportLayoutsAndTimeToTarget() {
        let m = model()
        var other = m.workload
        other.metaBatch = 2
        other.name = "B=2"
        var report = ScalingModelReport(workloads: [m.workload, other], networks: [m.network], compute: m.compute,
                                        ranks: [1, 2, 4, 8], metaStepsToTarget: (steps: 100, metaBatch: 4))
        let best = report.rows()
        XCTAssertEqual(best.filter { $0.workload == "hand" }.map(\.layout.description), ["1×1", "2×1", "4×1", "4×2"])
        XCTAssertEqual(best[0].timeToTarget!, 100 * m.stepTime(.init(groups: 1, shards: 1)).total, accuracy: 1e-12)
        XCTAssertTrue(best.filter { $0.workload == "B=2" }.allSatisfy { $0.timeToTarget == nil })
        report.shards = 2
        XCTAssertEqual(report.rows().filter { $0.workload == "hand" }.map(\.layout.description), ["1×2", "2×2", "4×2"])
    }

    /// 150 ms per meta-iteration of 1,000 coordinates, T = 10; the optimizee 5 of 100 profiled ms.
    func testSplitOfABenchProfile() {
        let s = ScalingModel.split(metaIteration: 0.15, optimizeePhase: 0.005, profiledTotal: 0.1, coordinates: 1_000, unroll: 10)
        XCTAssertEqual(s.optimizeePerFunctionStep, 0.15 * 0.05 / 10, accuracy: 1e-15)       // 0.75 ms
        XCTAssertEqual(s.perCoordinateStep, 0.15 * 0.95 / 10_000, accuracy: 1e-18)          // 14.25 µs
    }

    func testShardSplitFollowsTheTiles() {
        // 63 units: 31 to shard 0, 32 to shard 1 (the last one 38 coordinates wide).
        XCTAssertEqual(ShardSplit.counts(coordinates: 15_910, shards: 2), [7_936, 7_974])
        XCTAssertEqual(ShardSplit.counts(coordinates: 1_280, shards: 2), [512, 768])
        XCTAssertEqual(ShardSplit.counts(coordinates: 300, shards: 4), [0, 256, 0, 44])
        XCTAssertEqual(ShardSplit.counts(coordinates: 15_910, shards: 1), [15_910])
        XCTAssertEqual(ShardSplit.units(coordinates: 15_910), 63)
    }

    func testFitRecoversALine() throws {
        let points = [100.0, 1_000, 10_000, 100_000].map { (bytes: $0, seconds: 2e-6 + 0.5e-9 * $0) }
        let fit = try XCTUnwrap(LatencyBandwidthFit.fit(points))
        XCTAssertEqual(fit.alpha, 2e-6, accuracy: 1e-15)
        XCTAssertEqual(fit.beta, 0.5e-9, accuracy: 1e-20)
        XCTAssertEqual(fit.points, 4)
        XCTAssertNil(LatencyBandwidthFit.fit([(bytes: 8, seconds: 1e-6), (bytes: 8, seconds: 2e-6)]))
    }

    /// A measured sweep (SUM allreduces on 2 ranks, shared memory, 8 B to 4 MB): plain least
    /// squares would give α = 6.2 µs, seven times the 0.9 µs the small messages take; relative
    /// errors keep α at the small messages' time.
    func testFitWithRelativeErrorsKeepsTheLatencyOfSmallMessages() throws {
        let sweep: [(bytes: Double, seconds: Double)] = [
            (8, 0.95e-6), (40, 0.87e-6), (512, 1.15e-6), (5_120, 2.23e-6), (40_504, 16.45e-6), (131_072, 38.7e-6),
            (524_288, 98.64e-6), (2_097_152, 226.34e-6), (4_194_304, 557.93e-6),
        ]
        let fit = try XCTUnwrap(LatencyBandwidthFit.fit(sweep))
        XCTAssertEqual(fit.alpha, 0.988e-6, accuracy: 0.01e-6)
        XCTAssertEqual(fit.beta, 0.1495e-9, accuracy: 0.001e-9)
    }

    /// The p = 20 MLP run of docs/results.md: scores every 1,000 meta-steps.
    func testMetaStepsToTarget() {
        let scores = [2.385, 0.7234, 0.6709, 0.5657, 0.5858, 0.5557, 0.5582]
        let lines = scores.enumerated().map { TrainingLog.Validation(iteration: 1_000 * $0.offset, meanFinalLoss: $0.element, best: false) }
        XCTAssertEqual(ScalingModel.metaStepsToTarget(lines, target: 0.6), 3_000)
        XCTAssertEqual(ScalingModel.metaStepsToTarget(lines, target: 0.5557), 5_000)
        XCTAssertNil(ScalingModel.metaStepsToTarget(lines, target: 0.5))
        XCTAssertNil(ScalingModel.metaStepsToTarget([TrainingLog.Validation(iteration: 0, meanFinalLoss: nil, best: false)], target: 9))
    }
}
