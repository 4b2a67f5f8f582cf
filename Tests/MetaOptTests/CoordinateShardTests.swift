import XCTest
@testable import MetaOpt

/// The engine's side of coordinate sharding (`UnrollEngine.shard`, `truncation(…unitGradients:)`):
/// a unit's part of the meta-gradient depends only on that unit, whichever engine computes it.
/// The multi-rank side (groups, allgather, invariance of φ) is in MultiRankTests/ShardingTests.
final class CoordinateShardTests: XCTestCase {
    /// Two quadratics of 300 and 500 coordinates: 800 columns in 4 tiles of 256, the second tile
    /// spanning both tasks.
    private let tasks: [any Optimizee] = [QuadraticOptimizee(dimension: 300, key: RandomKey(seed: 3, horizon: 0, task: 0)),
                                          QuadraticOptimizee(dimension: 500, key: RandomKey(seed: 3, horizon: 0, task: 1))]
    private let layout = ParameterLayout(LearnedOptimizerConfig(hiddenSizes: [20, 20]))
    private var phi: [Float] { layout.initialParameters(key: RandomKey(seed: 11, horizon: 0, task: 0)) }

    private func parts(_ engine: UnrollEngine<Float>, state: inout UnrollState<Float>) -> [Float] {
        var g = [Float](repeating: 0, count: engine.gradientUnitCount(mode: .firstOrder) * layout.count)
        _ = phi.withUnsafeBufferPointer { p in
            g.withUnsafeMutableBufferPointer { engine.truncation(phi: p, state: &state, mode: .firstOrder, unitGradients: $0) }
        }
        return g
    }

    func testUnitPartsSumToTheWholeMetaGradient() {
        let whole = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 4)
        let split = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 4)
        XCTAssertEqual(split.units.count, 4)
        XCTAssertEqual(split.coordinates(ofUnit: 1), [256..<512])  // one run over both tasks
        var a = whole.initialState(), b = split.initialState()
        var g = [Float](repeating: 0, count: layout.count)
        for _ in 0..<2 {
            _ = phi.withUnsafeBufferPointer { p in g.withUnsafeMutableBufferPointer { whole.truncation(phi: p, state: &a, gradient: $0) } }
            let p = parts(split, state: &b)
            // The forward pass is the same arithmetic: θ, losses and LSTM state agree bit for bit.
            XCTAssertEqual(a.theta, b.theta)
            XCTAssertEqual(a.loss, b.loss)
            XCTAssertEqual(a.lstm, b.lstm)
            let summed = (0..<layout.count).map { i in (0..<4).reduce(0.0) { $0 + Double(p[$1 * layout.count + i]) } }
            let scale = g.reduce(0) { max($0, abs(Double($1))) }
            XCTAssertGreaterThan(scale, 0)
            let worst = zip(summed, g).reduce(0.0) { max($0, abs($1.0 - Double($1.1))) }
            XCTAssertLessThan(worst / scale, 1e-5, "the parts must add up to the Float sum over the tiles")
        }
    }

    /// Shards of 1, 2 and 3 units (of 4) compute their units' parts bit for bit as the whole
    /// engine does, when their exchange fills in the other coordinates from the whole engine's θ.
    func testAShardComputesItsUnitsExactlyAsTheWholeEngine() {
        // The whole engine, with an exchange that records θ after every forward step.
        let whole = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 4)
        var trajectory: [[Float]] = []
        let n = whole.coordinateCount
        whole.shard(owning: whole.units.indices) { theta in trajectory.append(Array(UnsafeBufferPointer(start: theta, count: n))) }
        var reference = whole.initialState()
        let referenceParts = [parts(whole, state: &reference), parts(whole, state: &reference)]
        XCTAssertEqual(trajectory.count, 8)

        for owned in [0..<1, 1..<3, 3..<4] {
            let shard = UnrollEngine<Float>(layout: layout, tasks: tasks, unroll: 4)
            let mine = Set(owned.flatMap { shard.coordinates(ofUnit: $0) }.flatMap { Array($0) })
            var step = 0
            var mismatches = 0
            shard.shard(owning: owned) { theta in
                for i in 0..<n {
                    if mine.contains(i) {
                        if theta[i].bitPattern != trajectory[step][i].bitPattern { mismatches += 1 }
                    } else {
                        theta[i] = trajectory[step][i]
                    }
                }
                step += 1
            }
            var state = shard.initialState()
            for k in 0..<2 {
                let p = parts(shard, state: &state)
                let P = layout.count
                XCTAssertEqual(p.count, owned.count * P)
                let expected = Array(referenceParts[k][(owned.lowerBound * P)..<(owned.upperBound * P)])
                XCTAssertEqual(p.map(\.bitPattern), expected.map(\.bitPattern), "units \(owned), truncation \(k)")
            }
            XCTAssertEqual(mismatches, 0, "units \(owned): the owned coordinates' θ")
            XCTAssertEqual(state.theta, reference.theta)
            XCTAssertEqual(state.loss, reference.loss)
        }
    }

    /// Shard s of S owns ⌊s·n/S⌋ ..< ⌊(s+1)·n/S⌋: contiguous, in order, covering every unit once,
    /// and empty for some shards when there are fewer units than shards.
    func testOwnedUnitsCoverEveryUnitOnce() {
        for n in [1, 3, 4, 63, 64] {
            for shards in [1, 2, 3, 4, 8] {
                let ranges = (0..<shards).map { CoordinateShard.ownedUnits(unitCount: n, shards: shards, index: $0) }
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, n)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                XCTAssertLessThanOrEqual(ranges.map(\.count).max()! - ranges.map(\.count).min()!, 1)
            }
        }
    }

    func testAutomaticShardsGiveEveryGroupABlock() throws {
        var config = TrainingConfig(task: .quadratic(dimension: 10), metaBatch: 2, blockSize: 1)
        XCTAssertEqual(MetaTrainer.automaticShards(ranks: 1, config: config), 1)
        XCTAssertEqual(MetaTrainer.automaticShards(ranks: 2, config: config), 1)
        XCTAssertEqual(MetaTrainer.automaticShards(ranks: 3, config: config), 3)
        XCTAssertEqual(MetaTrainer.automaticShards(ranks: 8, config: config), 4)
        config.mode = .secondOrder
        XCTAssertEqual(MetaTrainer.automaticShards(ranks: 8, config: config), 1)
        XCTAssertFalse(MetaTrainer.shardingProblems(shards: 2, ranks: 8, config: config).isEmpty)
        config.mode = .firstOrder
        XCTAssertEqual(MetaTrainer.shardingProblems(shards: 4, ranks: 8, config: config), [])
        XCTAssertEqual(MetaTrainer.shardingProblems(shards: 3, ranks: 8, config: config).count, 1)
        XCTAssertEqual(MetaTrainer.shardingProblems(shards: 0, ranks: 8, config: config).count, 1)
    }
}
