import Foundation

/// The latency–bandwidth ("Hockney") model of one collective at a fixed number of ranks,
///
///     t(m) = α + β·m        (m: message bytes, t: seconds),
///
/// fitted to measured (bytes, seconds) points. α is the time of an empty
/// message (latency and software overhead), β the seconds per byte (1/β the effective bandwidth).
/// Used by `allreduce-bench` to turn its size sweeps into the constants of `ScalingModel`.
package struct LatencyBandwidthFit: Sendable, Equatable {
    /// Seconds at zero bytes.
    package var alpha: Double
    /// Seconds per byte.
    package var beta: Double
    /// Number of points fitted.
    package var points: Int

    package init(alpha: Double, beta: Double, points: Int) {
        self.alpha = alpha
        self.beta = beta
        self.points = points
    }

    /// The line through `points` (bytes, seconds) with the least squared *relative* error
    /// (weights 1/t²); nil for fewer than two distinct sizes or a non-positive time. Relative, not
    /// absolute: the sweeps span bytes to megabytes, and plain least squares would fit the large
    /// messages alone and could give a negative α; with relative errors α comes from the small
    /// messages and β from the large ones, each to within its own noise.
    package static func fit(_ points: [(bytes: Double, seconds: Double)]) -> LatencyBandwidthFit? {
        guard Set(points.map(\.bytes)).count >= 2, points.allSatisfy({ $0.seconds > 0 }) else { return nil }
        // Weighted normal equations for t = α + β·m with weights w = 1/t².
        var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for p in points {
            let w = 1 / (p.seconds * p.seconds)
            sw += w
            sx += w * p.bytes
            sy += w * p.seconds
            sxx += w * p.bytes * p.bytes
            sxy += w * p.bytes * p.seconds
        }
        let det = sw * sxx - sx * sx
        let beta = (sw * sxy - sx * sy) / det
        let alpha = (sy - beta * sx) / sw
        return LatencyBandwidthFit(alpha: alpha, beta: beta, points: points.count)
    }

    /// The model's time for `bytes`.
    package func seconds(bytes: Double) -> Double { alpha + beta * bytes }
}
