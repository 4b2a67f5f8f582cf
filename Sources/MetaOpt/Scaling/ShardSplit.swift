/// How coordinate sharding (`train --shards S`, docs/scaling.md) cuts a function's N coordinates
/// over the S ranks of a group: in units of the engine's column tiles (`UnrollEngine`'s default
/// width, 256 coordinates; the last unit may be shorter), shard s taking the contiguous units
/// ⌊s·U/S⌋ … ⌊(s+1)·U/S⌋ − 1 of the U = ⌈N / 256⌉. Fixed units keep the meta-gradient's partials
/// (one per block and unit) the same for every S. For the benchmarks and `ScalingModel`.
package enum ShardSplit {
    /// Coordinates per unit: the engine's tile width, where its small GEMMs run fastest.
    package static var unitWidth: Int { UnrollEngine<Float>.defaultTileWidth }

    /// Units of a function with `coordinates` coordinates.
    package static func units(coordinates: Int) -> Int { (coordinates + unitWidth - 1) / unitWidth }

    /// The coordinates of each of `shards` shards, in shard order (some are 0 when there are more
    /// shards than units).
    package static func counts(coordinates: Int, shards: Int) -> [Int] {
        precondition(coordinates >= 0 && shards >= 1)
        let units = units(coordinates: coordinates)
        return (0..<shards).map { s in
            let owned = CoordinateShard.ownedUnits(unitCount: units, shards: shards, index: s)
            return max(0, min(owned.upperBound * unitWidth, coordinates) - owned.lowerBound * unitWidth)
        }
    }
}
