import Foundation

/// Coordinate sharding (docs/design.md, "Coordinate sharding"): the S ranks of a group run the same
/// meta-batch blocks, and each computes the learned optimizer only on its share of every engine's
/// units (column tiles of `UnrollEngine.defaultTileWidth` coordinates).
///
/// With first-order meta-gradients everything but the optimizee is local to a coordinate: the
/// LSTM's forward and backward pass, the θ update and the adjoint. Only f and ∇f need the whole θ,
/// so every shard evaluates the optimizee on all of θ_t (the same arithmetic on every shard, so the
/// same losses and gradients), updates its own coordinates, and one allgather per unrolled step
/// gives every shard θ_{t+1}. A unit's part of the meta-gradient depends on that unit only, so the
/// exact fixed-point sum over all parts is the same whatever S.
///
/// Units are split contiguously and as evenly as possible: shard s of S owns units
/// ⌊s·n/S⌋ ..< ⌊(s+1)·n/S⌋ of an engine with n units (none when n < S and s draws an empty range).
final class CoordinateShard {
    /// The group's communicator: its rank is this shard's index, its size S.
    let group: any Communicator
    /// Seconds this rank spent in the θ allgathers since the last `takeSeconds()`.
    private(set) var seconds = 0.0
    /// The first failure of an allgather; later exchanges are skipped and the trainer throws it
    /// after the truncation (the engine's step loop cannot throw).
    private(set) var failure: (any Error)?

    init(group: any Communicator) {
        self.group = group
    }

    /// The units of an engine with `unitCount` units that shard `index` of `shards` owns.
    static func ownedUnits(unitCount n: Int, shards: Int, index s: Int) -> Range<Int> {
        (s * n / shards)..<((s + 1) * n / shards)
    }

    /// Restricts `engine` to this shard's units and makes it exchange θ over the group after every
    /// forward step.
    func attach(to engine: any MetaGradientEngine<Float>) {
        let shards = group.size
        let n = engine.units.count
        // Per shard, the coordinate ranges its units update, in unit order: the layout of the
        // gathered buffer (shard by shard), the same on every rank.
        let ranges = (0..<shards).map { s in
            ownedUnitsRanges(engine, Self.ownedUnits(unitCount: n, shards: shards, index: s))
        }
        let counts = ranges.map { $0.reduce(0) { $0 + $1.count } }
        let me = group.rank
        var send = [Float](repeating: 0, count: counts[me])
        var receive = [Float](repeating: 0, count: counts.reduce(0, +))
        engine.shard(owning: Self.ownedUnits(unitCount: n, shards: shards, index: me)) { [unowned self] theta in
            guard self.failure == nil else { return }
            let start = DispatchTime.now()
            var k = 0
            for r in ranges[me] {
                for i in r { send[k] = theta[i]; k += 1 }
            }
            do {
                try send.withUnsafeBufferPointer { s in
                    try receive.withUnsafeMutableBufferPointer { try self.group.allgather(s, into: $0, counts: counts) }
                }
            } catch {
                self.failure = error
                return
            }
            k = 0
            for (s, shardRanges) in ranges.enumerated() {
                guard s != me else { k += counts[s]; continue }
                for r in shardRanges {
                    for i in r { theta[i] = receive[k]; k += 1 }
                }
            }
            self.seconds += MetaOpt.seconds(since: start)
        }
    }

    private func ownedUnitsRanges(_ engine: any MetaGradientEngine<Float>, _ units: Range<Int>) -> [Range<Int>] {
        units.flatMap { engine.coordinates(ofUnit: $0) }
    }

    /// The seconds in allgathers since the last call (and resets them).
    func takeSeconds() -> Double {
        defer { seconds = 0 }
        return seconds
    }

    /// Throws the first allgather failure, if any.
    func checkFailure() throws {
        if let failure { throw failure }
    }
}
