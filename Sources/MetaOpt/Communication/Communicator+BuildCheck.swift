extension Communicator {
    /// Bytes of a rank's build identity that `differingBuilds` brings to every rank (longer ones
    /// are cut there; the check itself hashes the whole text).
    static var buildIdentityBytes: Int { 128 }

    /// Every rank's `identity` (this build's, `Provenance.buildIdentity`) when the ranks run
    /// different builds of metaopt-dist; nil when they all run the same (a job of one rank
    /// without a collective).
    ///
    /// A job whose hosts hold different copies of the binary used to end in an MPI error of no
    /// help (MPI_ERR_TRUNCATE: a collective of another size in the other build) or, worse, to run
    /// on with two programs. So this must be the job's first collective, and its form stays the
    /// same in every build from now on: one MAX allreduce of two integers (the identity's hash
    /// and its negation) decides; only when the ranks differ, one SUM allreduce of
    /// `buildIdentityBytes` per rank brings every rank's identity to all.
    package func differingBuilds(identity: String) throws -> [String]? {
        guard size > 1 else { return nil }
        guard try !allAgree(on: fnv1a(Array(identity.utf8))) else { return nil }
        let words = Self.buildIdentityBytes / 8
        var slots = [Int64](repeating: 0, count: size * words)
        for (index, byte) in identity.utf8.prefix(Self.buildIdentityBytes).enumerated() {
            slots[rank * words + index / 8] |= Int64(byte) << (8 * (index % 8))
        }
        try allreduce(&slots, .sum)
        return (0..<size).map { r in
            let bytes = (0..<Self.buildIdentityBytes).map { UInt8(truncatingIfNeeded: slots[r * words + $0 / 8] >> (8 * ($0 % 8))) }
            return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// The refusal of a job whose ranks run different builds (`Communicator.differingBuilds`).
package struct DifferingBuildsError: Error, CustomStringConvertible {
    /// Every rank's build identity, by rank.
    package var identities: [String]

    package init(identities: [String]) { self.identities = identities }

    /// "the ranks run different builds of metaopt-dist: ranks 0–2, 4: 0.1.0 (commit …); rank 3:
    /// 0.1.0 (commit …); …", the builds in the order of their first rank.
    package var description: String {
        var order: [String] = []
        var ranks: [String: [Int]] = [:]
        for (rank, identity) in identities.enumerated() {
            if ranks[identity] == nil { order.append(identity) }
            ranks[identity, default: []].append(rank)
        }
        let builds = order.map { identity in
            let list = ranks[identity]!
            return "\(list.count == 1 ? "rank" : "ranks") \(Self.spans(list)): \(identity)"
        }
        return "the ranks run different builds of metaopt-dist: " + builds.joined(separator: "; ")
            + ". Every rank must run the same build: copy the same binary to every host (or build it everywhere from one commit)"
    }

    /// Ascending ranks as "0–2, 4, 6–7".
    static func spans(_ ranks: [Int]) -> String {
        var parts: [String] = []
        var index = 0
        while index < ranks.count {
            var end = index
            while end + 1 < ranks.count && ranks[end + 1] == ranks[end] + 1 { end += 1 }
            parts.append(end == index ? "\(ranks[index])" : "\(ranks[index])–\(ranks[end])")
            index = end + 1
        }
        return parts.joined(separator: ", ")
    }
}
