/// Which kernel paths the ranks of a job run, and how many ranks run each: every output of a run
/// records it, since the path decides φ's last bits (`KernelPath`). On a cluster of mixed nodes
/// ranks may differ; φ stays the same on all of them.
public struct KernelCensus: Equatable, Sendable, CustomStringConvertible {
    /// Ranks per path, fastest path first; paths no rank runs are left out.
    public var ranks: [(path: KernelPath, count: Int)]

    public init(ranks: [(path: KernelPath, count: Int)]) { self.ranks = ranks }

    /// A single process's path.
    public init(_ path: KernelPath) { ranks = [(path, 1)] }

    /// Counts every rank's `local` path with one SUM allreduce (collective).
    public static func gather(_ local: KernelPath, communicator: any Communicator) throws -> KernelCensus {
        let paths = Array(KernelPath.allCases.reversed())
        var counts = paths.map { Int64($0 == local ? 1 : 0) }
        try communicator.allreduce(&counts, .sum)
        return KernelCensus(ranks: zip(paths, counts).filter { $0.1 > 0 }.map { ($0.0, Int($0.1)) })
    }

    /// Whether every rank runs the same path.
    public var isUniform: Bool { ranks.count <= 1 }

    /// "avx512" when every rank runs one path; "avx512:2,avx2:1" on a mixed job.
    public var description: String {
        isUniform ? (ranks.first?.path.rawValue ?? "none") : ranks.map { "\($0.path.rawValue):\($0.count)" }.joined(separator: ",")
    }

    public static func == (a: KernelCensus, b: KernelCensus) -> Bool { a.description == b.description }
}

/// The kernel paths that trained one φ across a run's (re)starts: the censuses in order, joined
/// by " then " ("avx512 then portable" for a run resumed on another path), a census repeated by a
/// resume written once. One census alone is its description, as before resumes were recorded.
package enum KernelHistory {
    static let separator = " then "

    /// `history` continued by a job on `census` (nil history: a fresh start).
    package static func appending(_ census: String, to history: String?) -> String {
        guard let history, !history.isEmpty else { return census }
        return history.components(separatedBy: separator).last == census ? history : history + separator + census
    }
}
